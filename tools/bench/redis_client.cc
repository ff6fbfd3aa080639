#include "tools/bench/redis_client.h"

#include <hiredis/hiredis.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace kiln::bench {
namespace {

// Owns a reply.
struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

absl::StatusOr<Reply> Checked(redisContext* context, void* raw,
                              const char* command) {
  Reply reply(static_cast<redisReply*>(raw));
  if (reply == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("redis ", command, ": ", context->errstr));
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::InternalError(absl::StrCat(
        "redis ", command, ": ", absl::string_view(reply->str, reply->len)));
  }
  return reply;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisClient>> RedisClient::Connect(
    const std::string& address) {
  std::vector<std::string> parts = absl::StrSplit(address, ':');
  int port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis address must be HOST:PORT, not '", address, "'"));
  }
  redisContext* context = redisConnect(parts[0].c_str(), port);
  if (context == nullptr || context->err != 0) {
    std::string why = context != nullptr ? context->errstr : "out of memory";
    if (context != nullptr) redisFree(context);
    return absl::UnavailableError(
        absl::StrCat("cannot reach redis at ", address, ": ", why));
  }
  return std::unique_ptr<RedisClient>(new RedisClient(context));
}

RedisClient::~RedisClient() { redisFree(context_); }

absl::Status RedisClient::Set(const std::string& key,
                              const std::string& value) {
  absl::StatusOr<Reply> reply =
      Checked(context_,
              redisCommand(context_, "SET %b %b", key.data(), key.size(),
                           value.data(), value.size()),
              "SET");
  return reply.status();
}

absl::StatusOr<std::string> RedisClient::Get(const std::string& key) {
  absl::StatusOr<Reply> reply =
      Checked(context_,
              redisCommand(context_, "GET %b", key.data(), key.size()), "GET");
  if (!reply.ok()) return reply.status();
  if ((*reply)->type == REDIS_REPLY_NIL) {
    return absl::NotFoundError(absl::StrCat("redis GET: no key ", key));
  }
  if ((*reply)->type != REDIS_REPLY_STRING) {
    return absl::InternalError("redis GET: the reply is not a string");
  }
  return std::string((*reply)->str, (*reply)->len);
}

absl::StatusOr<std::string> RedisClient::Version() {
  absl::StatusOr<Reply> reply =
      Checked(context_, redisCommand(context_, "INFO server"), "INFO");
  if (!reply.ok()) return reply.status();
  absl::string_view info((*reply)->str, (*reply)->len);
  for (absl::string_view line : absl::StrSplit(info, absl::ByAnyChar("\r\n"))) {
    if (absl::ConsumePrefix(&line, "redis_version:")) return std::string(line);
  }
  return absl::NotFoundError("redis INFO has no redis_version");
}

}  // namespace kiln::bench
