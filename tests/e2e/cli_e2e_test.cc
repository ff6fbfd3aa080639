// End-to-end tests of the `kiln` CLI's cache commands: the real kiln binary
// against the real kiln-server (temporary data dirs, real RocksDB), with
// entries stored by //tests:admin_store_writer (real compiled artifacts,
// some made in the past, one for a GPU). Human output is checked for its
// content and alignment, --json output is parsed.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cache/guards/test_util.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/process.h"
#include "tests/testing/store_writer.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::kiln::cache::testing::Sig;
using ::kiln::cache::testing::T;
using ::kiln::testing::CommandResult;
using ::kiln::testing::Runfile;
using ::kiln::testing::ServerProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using Written = ::kiln::testing::WrittenEntry;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// A failure is one line on stderr, starting "kiln: error: ".
void ExpectOneLineError(const CommandResult& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_THAT(r.err, StartsWith("kiln: error: "));
  EXPECT_THAT(r.err, HasSubstr(needle));
}

class CliE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_bin_ = Runfile("server/kiln-server");
    cli_bin_ = Runfile("client/cpp/kiln");
    writer_bin_ = Runfile("tests/admin_store_writer");
    tmp_ = testing::MakeTempDir("cli");
  }
  void TearDown() override { fs::remove_all(tmp_); }

  std::string Dir(const std::string& name) { return tmp_ + "/" + name; }

  std::vector<Written> Write(const std::string& dir,
                             const std::vector<std::string>& specs) {
    auto written = testing::WriteEntries(writer_bin_, dir, specs);
    EXPECT_TRUE(written.ok()) << written.status();
    return written.ok() ? *std::move(written) : std::vector<Written>();
  }

  std::unique_ptr<ServerProcess> StartServer(
      const std::string& dir, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {server_bin_, "--listen=127.0.0.1:0",
                                     "--data-dir=" + dir,
                                     "--shutdown-timeout=5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(argv);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  // Runs kiln against `server` (through KILN_SERVER unless args name one).
  CommandResult Kiln(const ServerProcess* server, std::vector<std::string> args,
                     std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), cli_bin_);
    if (server != nullptr && env.count("KILN_SERVER") == 0) {
      env["KILN_SERVER"] = server->address();
    }
    auto result = testing::RunCommand(args, env);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : CommandResult{};
  }

  // Runs a --json command that must succeed and parses its output.
  nlohmann::json Json(const ServerProcess* server,
                      std::vector<std::string> args) {
    args.push_back("--json");
    CommandResult r = Kiln(server, args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.out;
    return doc;
  }

  static std::vector<std::string> KeysOf(const nlohmann::json& ls) {
    std::vector<std::string> keys;
    for (const auto& e : ls["entries"]) keys.push_back(e["artifact_key"]);
    return keys;
  }

  std::string server_bin_, cli_bin_, writer_bin_, tmp_;
};

TEST_F(CliE2ETest, LsPrintsAlignedTablesAndJson) {
  // Last use: e0 now, e2 1 min ago, e3 10 min ago, e1 2 h ago.
  std::vector<Written> w =
      Write(Dir("a"), {"graph=0,variant=0,client=job-a,hits=2",
                       "graph=0,variant=1,age_s=7200",
                       "graph=3,variant=0,client=job-b,age_s=60",
                       "graph=1,variant=0,age_s=600,device=cuda-sm_90"});
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);

  CommandResult human = Kiln(server.get(), {"ls"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  std::vector<std::string> lines = Lines(human.out);
  ASSERT_EQ(lines.size(), 6u) << human.out;
  EXPECT_THAT(lines[0], StartsWith("ARTIFACT "));
  // Columns line up: every row has its target where the header has TARGET.
  size_t target_col = lines[0].find("TARGET");
  size_t client_col = lines[0].find("CLIENT");
  ASSERT_NE(target_col, std::string::npos);
  const std::vector<int> order = {0, 2, 3, 1};  // newest use first
  for (int row = 0; row < 4; ++row) {
    const Written& e = w[order[row]];
    EXPECT_THAT(lines[row + 1], StartsWith(e.key.substr(0, 16)));
    EXPECT_EQ(lines[row + 1].find(e.target), target_col) << lines[row + 1];
    EXPECT_GE(lines[row + 1].size(), client_col);
  }
  EXPECT_THAT(lines[1], HasSubstr("job-a"));
  EXPECT_THAT(lines[2], HasSubstr("1m ago"));
  EXPECT_THAT(lines[4], HasSubstr("2h ago"));
  EXPECT_EQ(lines[5], "4 of 4 entries");

  nlohmann::json ls = Json(server.get(), {"ls"});
  EXPECT_EQ(ls["total"], 4);
  ASSERT_EQ(ls["entries"].size(), 4u);
  EXPECT_EQ(KeysOf(ls),
            std::vector<std::string>({w[0].key, w[2].key, w[3].key, w[1].key}));
  const nlohmann::json& first = ls["entries"][0];
  EXPECT_EQ(first["graph_digest"], w[0].graph);
  EXPECT_EQ(first["target"], "interpreter-k1-salt0");
  EXPECT_EQ(first["size_bytes"], w[0].size);  // a number, not a string
  EXPECT_EQ(first["hit_count"], 2);
  EXPECT_EQ(first["producing_client"], "job-a");
  EXPECT_TRUE(first["compile_time_us"].is_number());

  // Sorting, filters and limits.
  ls = Json(server.get(), {"ls", "--sort", "created", "--asc", "--limit", "1"});
  EXPECT_EQ(KeysOf(ls), std::vector<std::string>({w[1].key}));
  ls = Json(server.get(), {"ls", "--client", "job-b"});
  EXPECT_EQ(KeysOf(ls), std::vector<std::string>({w[2].key}));
  ls = Json(server.get(), {"ls", "--older-than", "5m"});
  EXPECT_EQ(KeysOf(ls), std::vector<std::string>({w[3].key, w[1].key}));
  ls = Json(server.get(), {"ls", "--newer-than", "5m", "--graph", w[0].graph});
  EXPECT_EQ(KeysOf(ls), std::vector<std::string>({w[0].key}));
  ls = Json(server.get(), {"ls", "--target", "cuda-sm_90-k1-salt0"});
  EXPECT_EQ(KeysOf(ls), std::vector<std::string>({w[3].key}));
  ls = Json(server.get(), {"ls", "--min-size", absl::StrCat(w[2].size)});
  for (const auto& e : ls["entries"]) {
    EXPECT_GE(e["size_bytes"].get<int64_t>(), w[2].size);
  }
  EXPECT_EQ(ls["total"], ls["entries"].size());
  ls = Json(server.get(), {"ls", "--sort", "size"});  // largest first
  int64_t last = INT64_MAX;
  for (const auto& e : ls["entries"]) {
    EXPECT_LE(e["size_bytes"].get<int64_t>(), last);
    last = e["size_bytes"].get<int64_t>();
  }

  // One page at a time, for scripts.
  nlohmann::json page = Json(server.get(), {"ls", "--page-size", "3"});
  ASSERT_EQ(page["entries"].size(), 3u);
  std::string token = page["next_page_token"];
  ASSERT_FALSE(token.empty());
  nlohmann::json next =
      Json(server.get(), {"ls", "--page-size", "3", "--page-token", token});
  EXPECT_EQ(KeysOf(next), std::vector<std::string>({w[1].key}));
  EXPECT_EQ(next["next_page_token"], "");
  human = Kiln(server.get(), {"ls", "--page-size", "3"});
  EXPECT_THAT(human.out, HasSubstr("3 of 4 entries; next page: --page-token"));

  // --server after the subcommand, and --wide for full keys.
  human = Kiln(nullptr, {"ls", "--wide", "--server", server->address()});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_THAT(human.out, HasSubstr(w[1].key));
  EXPECT_THAT(human.out, HasSubstr(w[1].graph));
}

TEST_F(CliE2ETest, ShowStatsAndExplain) {
  std::vector<Written> w = Write(Dir("a"), {"graph=4,variant=0,client=job-a",
                                            "graph=4,variant=1,client=job-a"});
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);

  // show, by a unique key prefix.
  CommandResult show = Kiln(server.get(), {"show", w[0].key.substr(0, 10)});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("artifact         " + w[0].key));
  EXPECT_THAT(show.out, HasSubstr("graph            " + w[0].graph));
  EXPECT_THAT(show.out, HasSubstr("target           interpreter-k1-salt0"));
  EXPECT_THAT(show.out, HasSubstr("client           job-a"));
  EXPECT_THAT(show.out, HasSubstr("guards in words  global.grad_mode: true"));
  EXPECT_THAT(show.out, HasSubstr("symbols[s0]: 2 <= s0 <= 11 (hint 4)"));
  EXPECT_THAT(show.out, HasSubstr("outputs          #0 f32[s0, 4]"));
  nlohmann::json shown = Json(server.get(), {"show", w[0].key});
  EXPECT_EQ(shown["info"]["artifact_key"], w[0].key);
  EXPECT_EQ(shown["info"]["size_bytes"], w[0].size);
  EXPECT_THAT(shown["graph_text"].get<std::string>(),
              HasSubstr("aten::relu.default"));
  EXPECT_GT(shown["guard_descriptions"].size(), 3u);

  CommandResult graph = Kiln(server.get(), {"show", w[0].key, "--graph"});
  ASSERT_EQ(graph.exit_code, 0) << graph.err;
  EXPECT_THAT(graph.out, StartsWith("graph(%p0: f32[s0, 4], %p1: f32[s0, 4])"));
  EXPECT_THAT(graph.out, HasSubstr("aten::sub.Tensor"));
  CommandResult dot = Kiln(server.get(), {"show", w[0].key, "--dot"});
  ASSERT_EQ(dot.exit_code, 0) << dot.err;
  EXPECT_THAT(dot.out, StartsWith("digraph kiln {"));
  EXPECT_THAT(dot.out, HasSubstr("(after fusion)"));
  EXPECT_THAT(dot.out, HasSubstr("fused pointwise kernel, 5 ops"));
  EXPECT_THAT(dot.out, HasSubstr("add > mul > sub > relu > mul"));
  const std::string svg = tmp_ + "/graph.svg";
  CommandResult drawn = Kiln(server.get(), {"show", w[0].key, "--svg", svg});
  ASSERT_EQ(drawn.exit_code, 0) << drawn.err;
  EXPECT_EQ(drawn.out, "wrote " + svg + "\n");
  std::ifstream in(svg);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(content, HasSubstr("<svg"));
  EXPECT_THAT(content, HasSubstr("fused pointwise kernel"));

  // stats.
  CommandResult stats = Kiln(server.get(), {"stats"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.out, HasSubstr("entries             2\n"));
  EXPECT_THAT(stats.out, HasSubstr("hit rate            0.0%"));
  EXPECT_THAT(stats.out, HasSubstr("interpreter-k1-salt0  2"));
  nlohmann::json s = Json(server.get(), {"stats"});
  EXPECT_EQ(s["entries"], 2);
  EXPECT_EQ(s["bytes"], w[0].size + w[1].size);
  EXPECT_EQ(s["by_target"][0]["target"], "interpreter-k1-salt0");

  // explain with --input flags: s0 = 14 is variant 1's range.
  std::vector<std::string> args = {
      "explain", w[0].graph,  "--target", "interpreter-k1-salt0",
      "--input", "f32[14,4]", "--input",  "f32[14,4]"};
  CommandResult explain = Kiln(server.get(), args);
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  std::vector<std::string> lines = Lines(explain.out);
  ASSERT_EQ(lines.size(), 4u) << explain.out;
  EXPECT_THAT(lines[0], StartsWith("#  ARTIFACT"));
  EXPECT_THAT(lines[1], StartsWith("0  " + w[1].key.substr(0, 16)));
  EXPECT_THAT(lines[1], HasSubstr("HIT"));
  EXPECT_THAT(lines[2], HasSubstr("miss: symbols[s0]: expected 2 <= s0 <= 11, "
                                  "got 14 [SYMBOL_RANGE]"));
  EXPECT_EQ(lines[3], "the call hits entry #0");
  // --no-grad misses everywhere; --backend resolves as Compile would.
  explain = Kiln(server.get(),
                 {"explain", w[0].graph, "--backend", "interpreter", "--input",
                  "f32[14,4]", "--input", "f32[14,4]", "--no-grad"});
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_THAT(explain.out, HasSubstr("global.grad_mode: expected true, got "
                                     "false [GLOBAL_STATE]"));
  EXPECT_THAT(explain.out,
              HasSubstr("no entry holds: the call would compile a new entry"));
  // The same call from a signature file (protobuf JSON, as Python writes
  // it) gives the same JSON answer.
  v1::CallSignature call =
      Sig().In(T().Sizes({14, 4})).In(T().Sizes({14, 4})).Build();
  std::string call_json;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(call, &call_json).ok());
  const std::string sig_file = tmp_ + "/call.json";
  std::ofstream(sig_file) << call_json;
  nlohmann::json from_flags = Json(server.get(), args);
  nlohmann::json from_file =
      Json(server.get(), {"explain", w[0].graph, "--target",
                          "interpreter-k1-salt0", "--signature", sig_file});
  EXPECT_EQ(from_flags, from_file);
  ASSERT_EQ(from_file["entries"].size(), 2u);
  EXPECT_EQ(from_file["entries"][0]["would_hit"], true);
  EXPECT_EQ(from_file["entries"][1]["first_failure"]["kind"], "SYMBOL_RANGE");
  EXPECT_EQ(from_file["entries"][1]["first_failure"]["path"], "symbols[s0]");

  // Errors are one line.
  ExpectOneLineError(Kiln(server.get(), {"show", std::string(64, 'e')}),
                     "no entry with key eeee");
  ExpectOneLineError(Kiln(server.get(), {"show", "eeeeee"}),
                     "no entry's artifact key starts with eeeeee");
  ExpectOneLineError(Kiln(server.get(), {"explain", "abc", "--backend",
                                         "interpreter", "--input", "f32[1]"}),
                     "'abc' is not a graph digest");
  ExpectOneLineError(Kiln(server.get(), {"explain", w[0].graph, "--backend",
                                         "tpu", "--input", "f32[1]"}),
                     "target_spec.backend: unknown backend 'tpu'");
  ExpectOneLineError(Kiln(server.get(), {"explain", w[0].graph, "--backend",
                                         "interpreter", "--input", "f32[x]"}),
                     "--input #1 'f32[x]'");
}

TEST_F(CliE2ETest, EvictBySelectors) {
  std::vector<Written> w =
      Write(Dir("a"), {"graph=0,variant=0", "graph=0,variant=1,age_s=7200",
                       "graph=1,variant=0,client=job-b", "graph=2,variant=0",
                       "graph=3,variant=0"});
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  auto count = [&] { return Json(server.get(), {"ls"})["total"]; };

  CommandResult r =
      Kiln(server.get(), {"evict", "--older-than", "1h", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "would evict " + w[1].key + "\nwould evict 1 entry, " +
                       absl::StrCat(w[1].size) + " B\n");
  EXPECT_EQ(count(), 5);
  r = Kiln(server.get(), {"evict", "--older-than", "1h"});
  EXPECT_EQ(r.out, "evicted " + w[1].key + "\nevicted 1 entry, " +
                       absl::StrCat(w[1].size) + " B\n");
  EXPECT_EQ(count(), 4);

  r = Kiln(server.get(), {"evict", w[3].key.substr(0, 12)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("evicted " + w[3].key));
  nlohmann::json j = Json(server.get(), {"evict", "--client", "job-b"});
  EXPECT_EQ(j["evicted_entries"], 1);
  EXPECT_EQ(j["artifact_keys"][0], w[2].key);
  EXPECT_EQ(j["dry_run"], false);
  j = Json(server.get(), {"evict", "--graph", w[0].graph});
  EXPECT_EQ(j["evicted_entries"], 1);
  EXPECT_EQ(j["artifact_keys"][0], w[0].key);
  EXPECT_EQ(count(), 1);

  ExpectOneLineError(Kiln(server.get(), {"evict"}), "say what to evict");
  ExpectOneLineError(Kiln(server.get(), {"evict", "--all", "--client", "x"}),
                     "give only one of");
  ExpectOneLineError(Kiln(server.get(), {"evict", "--older-than", "5y"}),
                     "--older-than: '5y' is not a duration");
  ExpectOneLineError(Kiln(server.get(), {"evict", "--min-size", "-3"}),
                     "--min-size");
  EXPECT_EQ(count(), 1);
  r = Kiln(server.get(), {"evict", "--all"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("evicted 1 entry"));
  EXPECT_EQ(count(), 0);
  r = Kiln(server.get(), {"ls"});
  EXPECT_EQ(r.out, "0 of 0 entries\n");
}

TEST_F(CliE2ETest, ExportOnOneServerImportOnAnother) {
  std::vector<Written> w = Write(
      Dir("a"), {"graph=0,variant=0", "graph=2,variant=0,age_s=600",
                 "graph=2,variant=1", "graph=1,variant=0,device=cuda-sm_90"});
  auto a = StartServer(Dir("a"));
  ASSERT_NE(a, nullptr);
  auto b = StartServer(Dir("b"));
  ASSERT_NE(b, nullptr);
  const std::string bundle = tmp_ + "/interp.kiln";

  CommandResult r =
      Kiln(a.get(), {"export", bundle, "--target", "interpreter-k1-salt0",
                     "--progress", "always"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("exported 3 entries ("));
  EXPECT_THAT(r.out, HasSubstr(") to " + bundle));
  // Progress goes to stderr, ending with a summary line.
  std::vector<std::string> progress = Lines(r.err);
  ASSERT_FALSE(progress.empty());
  EXPECT_THAT(progress.back(), StartsWith("kiln: exported "));
  EXPECT_THAT(progress.back(), HasSubstr("done in"));
  ASSERT_TRUE(fs::exists(bundle));

  r = Kiln(b.get(), {"import", bundle});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "imported 3 entries from " + bundle +
                       "; 0 already present, 0 rejected\n");
  EXPECT_EQ(r.err, "");  // no progress unless asked (stderr is no terminal)
  nlohmann::json ls = Json(b.get(), {"ls"});
  EXPECT_EQ(ls["total"], 3);
  nlohmann::json again = Json(b.get(), {"import", bundle});
  EXPECT_EQ(again["imported"], 0);
  EXPECT_EQ(again["skipped_existing"], 3);
  EXPECT_EQ(again["rejected"], 0);
  CommandResult shown = Kiln(b.get(), {"show", w[2].key, "--graph"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out, Kiln(a.get(), {"show", w[2].key, "--graph"}).out);

  // A bundle with a GPU entry is refused as a whole, in one line.
  const std::string all = tmp_ + "/all.kiln";
  nlohmann::json exported = Json(a.get(), {"export", all});
  EXPECT_EQ(exported["entries"], 4);
  EXPECT_EQ(exported["bytes"], static_cast<int64_t>(fs::file_size(all)));
  CommandResult c = Kiln(nullptr, {"--server", b->address(), "import", all});
  ExpectOneLineError(c, "which this server cannot run");
  EXPECT_THAT(c.err, HasSubstr(w[3].key));

  // A damaged bundle: DATA_LOSS in one line, nothing imported.
  std::string bytes;
  {
    std::ifstream in(all, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x10;
  const std::string damaged = tmp_ + "/damaged.kiln";
  std::ofstream(damaged, std::ios::binary) << bytes;
  auto fresh = StartServer(Dir("c"));
  ASSERT_NE(fresh, nullptr);
  c = Kiln(fresh.get(), {"import", damaged});
  ExpectOneLineError(c, "checksum mismatch");
  EXPECT_THAT(c.err, HasSubstr("bundle entry"));
  EXPECT_EQ(Json(fresh.get(), {"ls"})["total"], 0);

  // A file that is not there is refused before connecting.
  c = Kiln(fresh.get(), {"import", tmp_ + "/missing.kiln"});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_EQ(Lines(c.err).size(), 1u) << c.err;
  // An export into a directory that does not exist leaves nothing behind.
  ExpectOneLineError(Kiln(a.get(), {"export", tmp_ + "/no/such/dir/x.kiln"}),
                     "cannot create");
}

TEST_F(CliE2ETest, ErrorsAreOneLineWithANonZeroExit) {
  // Nothing listens on port 1.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"ls"},
                                             {"stats"},
                                             {"show", std::string(64, 'a')},
                                             {"evict", "--all"},
                                             {"export", tmp_ + "/x.kiln"}}) {
    CommandResult r = Kiln(nullptr, args, {{"KILN_SERVER", "127.0.0.1:1"}});
    ExpectOneLineError(r, "cannot reach kiln-server at 127.0.0.1:1");
  }
  EXPECT_FALSE(fs::exists(tmp_ + "/x.kiln"));
  EXPECT_FALSE(fs::exists(tmp_ + "/x.kiln.partial"));

  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  ExpectOneLineError(Kiln(server.get(), {"ls", "--sort", "colour"}),
                     "--sort: 'colour' is not one of");
  ExpectOneLineError(Kiln(server.get(), {"ls", "--older-than", "soon"}),
                     "--older-than");
  ExpectOneLineError(Kiln(server.get(), {"ls", "--graph", "xyz"}),
                     "--graph: 'xyz' is not a graph digest");
  ExpectOneLineError(
      Kiln(server.get(), {"ls", "--page-token", "bogus", "--page-size", "5"}),
      "page_token");
  ExpectOneLineError(Kiln(server.get(), {"show", "xyz"}),
                     "is not an artifact key");
  // Flag syntax errors exit with 2.
  CommandResult r = Kiln(server.get(), {"ls", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  // The server kept serving through all of it.
  EXPECT_EQ(Kiln(server.get(), {"status"}).exit_code, 0);
}

TEST_F(CliE2ETest, TokensFromFlagsOrEnvironmentAndAdminOnlyCommands) {
  const std::string client_token = "client-token-0123456789abcdef";
  const std::string admin_token = "admin-token-0123456789abcdef";
  const std::string tokens = tmp_ + "/tokens.txt";
  std::ofstream(tokens) << client_token << " client name=ci\n"
                        << admin_token << " admin name=ops\n";
  std::vector<Written> w =
      Write(Dir("a"), {"graph=0,variant=0", "graph=1,variant=0"});
  auto server = StartServer(Dir("a"), {"--token-file=" + tokens});
  ASSERT_NE(server, nullptr);

  // Without a token nothing but health is reachable.
  CommandResult r = Kiln(server.get(), {"ls"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_THAT(r.err, StartsWith("kiln: error: List failed: "));
  // A client token (KILN_TOKEN) lists, shows and exports...
  const std::map<std::string, std::string> as_client = {
      {"KILN_SERVER", server->address()}, {"KILN_TOKEN", client_token}};
  r = Kiln(nullptr, {"ls", "--json"}, as_client);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["total"], 2);
  const std::string bundle = tmp_ + "/b.kiln";
  r = Kiln(nullptr, {"export", bundle}, as_client);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // ...but may neither evict nor import.
  ExpectOneLineError(Kiln(nullptr, {"evict", "--all"}, as_client),
                     "needs an admin token");
  ExpectOneLineError(Kiln(nullptr, {"import", bundle}, as_client),
                     "needs an admin token");
  EXPECT_EQ(Json(server.get(), {"ls", "--token", admin_token})["total"], 2);
  // An admin token (--token) may.
  r = Kiln(server.get(), {"evict", w[0].key, "--token", admin_token});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("evicted 1 entry"));
  r = Kiln(server.get(), {"--token", admin_token, "import", bundle});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("imported 1 entry from"));
  EXPECT_THAT(r.out, HasSubstr("1 already present"));
}

}  // namespace
}  // namespace kiln
