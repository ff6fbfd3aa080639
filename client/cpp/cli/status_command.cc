#include <iomanip>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cpp/cli/commands.h"
#include "client/cpp/cli/output.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace kiln::cli {
namespace {

constexpr const char* kServices[] = {"kiln.v1.Compiler", "kiln.v1.CacheAdmin"};

// Every Limits field by name, so new limits show without code changes here.
std::vector<std::pair<std::string, std::string>> LimitRows(
    const v1::Limits& limits) {
  std::vector<std::pair<std::string, std::string>> rows;
  const google::protobuf::Descriptor* d = limits.GetDescriptor();
  const google::protobuf::Reflection* r = limits.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_INT64) {
      continue;
    }
    int64_t v = r->GetInt64(limits, f);
    std::string value =
        absl::EndsWith(f->name(), "_bytes") ? HumanBytes(v) : absl::StrCat(v);
    rows.emplace_back(f->name(), v == 0 ? "unlimited" : value);
  }
  return rows;
}

}  // namespace

absl::StatusOr<int> RunStatus(client::KilnClient& client,
                              const GlobalOptions& options, std::ostream& out) {
  absl::StatusOr<client::Health> health = client.CheckHealth();
  if (!health.ok()) return health.status();
  std::vector<std::pair<std::string, client::Health>> services;
  for (const char* name : kServices) {
    absl::StatusOr<client::Health> h = client.CheckHealth(name);
    if (!h.ok()) return h.status();
    services.emplace_back(name, *h);
  }
  absl::StatusOr<v1::CapabilitiesResponse> caps = client.Capabilities();
  if (!caps.ok()) return caps.status();
  int code = *health == client::Health::kServing ? 0 : 1;

  if (options.json) {
    std::string caps_json;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    print.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(*caps, &caps_json, print);
    nlohmann::json doc;
    doc["server"] = options.server;
    doc["health"] = client::HealthName(*health);
    for (const auto& [name, h] : services) {
      doc["services"][name] = client::HealthName(h);
    }
    doc["capabilities"] = nlohmann::json::parse(caps_json);
    out << doc.dump(2) << "\n";
    return code;
  }

  Table table;
  table.AddRow({"server", options.server});
  table.AddRow({"health", client::HealthName(*health)});
  for (const auto& [name, h] : services) {
    table.AddRow({"", absl::StrCat(name, ": ", client::HealthName(h))});
  }
  table.AddRow(
      {"version", absl::StrCat("kiln-server ", caps->server_version(),
                               ", protocol ", caps->protocol_version())});
  bool first = true;
  for (const v1::BackendInfo& b : caps->backends()) {
    std::string line =
        b.available() ? absl::StrCat(b.name(), "  available  ", b.target())
                      : absl::StrCat(b.name(), "  unavailable: ", b.reason());
    table.AddRow({first ? "backends" : "", line});
    for (const std::string& dev : b.devices()) {
      if (b.name() != "cpu") table.AddRow({"", absl::StrCat("  ", dev)});
    }
    first = false;
  }
  first = true;
  for (const auto& [name, value] : LimitRows(caps->limits())) {
    table.AddRow({first ? "limits" : "", absl::StrCat(name, " = ", value)});
    first = false;
  }
  table.AddRow({"compressors", caps->compressors().empty()
                                   ? "none"
                                   : absl::StrJoin(caps->compressors(), ", ")});
  table.AddRow(
      {"shared memory", caps->shared_memory_allowed() ? "allowed" : "off"});
  table.Print(out);
  return code;
}

}  // namespace kiln::cli
