// kiln ls, show, stats, explain and evict.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/cpp/admin_client.h"
#include "client/cpp/cli/commands.h"
#include "client/cpp/cli/graph_dot.h"
#include "client/cpp/cli/json.h"
#include "client/cpp/cli/output.h"

namespace kiln::cli {
namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

void PrintJson(const nlohmann::ordered_json& doc, std::ostream& out) {
  out << doc.dump(2) << "\n";
}

absl::StatusOr<v1::ListRequest::SortOrder> ParseSort(const std::string& s) {
  static const std::map<std::string, v1::ListRequest::SortOrder> kSorts = {
      {"last-used", v1::ListRequest::LAST_USED},
      {"size", v1::ListRequest::SIZE},
      {"created", v1::ListRequest::CREATED},
      {"hits", v1::ListRequest::HITS}};
  auto it = kSorts.find(s);
  if (it == kSorts.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--sort: '", s, "' is not one of last-used, size, created, hits"));
  }
  return it->second;
}

// The full key for a key or unique prefix the user typed.
absl::StatusOr<std::string> FullKey(client::AdminClient& admin,
                                    const std::string& key) {
  if (IsDigest(key)) return key;
  return admin.ResolveKey(key);
}

std::string DimText(const v1::Dim& d) {
  if (d.has_expr()) {
    const v1::SymExpr& e = d.expr();
    if (e.op() == v1::SymExpr::SYMBOL) return e.symbol();
    if (e.op() == v1::SymExpr::CONSTANT) return absl::StrCat(e.constant());
    return "expr";
  }
  return absl::StrCat(d.static_size());
}

std::string TensorMetaText(const v1::TensorMeta& meta) {
  static const std::map<v1::DType, const char*> kShort = {
      {v1::FLOAT16, "f16"}, {v1::BFLOAT16, "bf16"}, {v1::FLOAT32, "f32"},
      {v1::FLOAT64, "f64"}, {v1::INT8, "i8"},       {v1::INT16, "i16"},
      {v1::INT32, "i32"},   {v1::INT64, "i64"},     {v1::UINT8, "u8"},
      {v1::BOOL, "b8"}};
  std::vector<std::string> sizes;
  for (const v1::Dim& d : meta.sizes()) sizes.push_back(DimText(d));
  auto dtype = kShort.find(meta.dtype());
  return absl::StrCat(dtype == kShort.end() ? "?" : dtype->second, "[",
                      absl::StrJoin(sizes, ", "), "]",
                      meta.device().type() == v1::CUDA
                          ? absl::StrCat(" cuda:", meta.device().index())
                          : "");
}

}  // namespace

absl::StatusOr<int> RunLs(client::KilnClient& client,
                          const GlobalOptions& options, const LsOptions& ls,
                          std::ostream& out) {
  client::AdminClient admin(client);
  v1::ListRequest request;
  absl::StatusOr<v1::EntryFilter> filter = BuildFilter(ls.filter);
  if (!filter.ok()) return filter.status();
  *request.mutable_filter() = *filter;
  absl::StatusOr<v1::ListRequest::SortOrder> sort = ParseSort(ls.sort);
  if (!sort.ok()) return sort.status();
  request.set_sort(*sort);
  request.set_descending(!ls.ascending);
  request.set_page_size(ls.page_size);
  request.set_page_token(ls.page_token);

  std::vector<v1::ArtifactInfo> entries;
  int64_t total = 0;
  std::string next_page_token;
  if (!ls.page_token.empty() || ls.page_size > 0) {
    // One page, for scripts that page themselves.
    absl::StatusOr<v1::ListResponse> page = admin.List(request);
    if (!page.ok()) return page.status();
    total = page->total();
    next_page_token = page->next_page_token();
    entries.assign(page->entries().begin(), page->entries().end());
  } else {
    absl::StatusOr<std::vector<v1::ArtifactInfo>> all =
        admin.ListAll(request, ls.limit, &total);
    if (!all.ok()) return all.status();
    entries = std::move(*all);
  }

  if (options.json) {
    nlohmann::ordered_json doc;
    doc["entries"] = nlohmann::ordered_json::array();
    for (const v1::ArtifactInfo& info : entries) {
      doc["entries"].push_back(ProtoToJson(info));
    }
    doc["total"] = total;
    doc["next_page_token"] = next_page_token;
    PrintJson(doc, out);
    return 0;
  }
  const int64_t now = NowMs();
  const size_t width = ls.wide ? 64 : 16;
  Table table;
  table.AddRow({"ARTIFACT", "GRAPH", "TARGET", "SIZE", "HITS", "LAST USED",
                "CREATED", "COMPILE", "CLIENT"});
  for (const v1::ArtifactInfo& info : entries) {
    table.AddRow(
        {ShortKey(info.artifact_key(), width),
         ShortKey(info.graph_digest(), ls.wide ? 64 : 12), info.target(),
         HumanBytes(info.size_bytes()), absl::StrCat(info.hit_count()),
         HumanAge(info.last_used_unix_ms(), now),
         HumanAge(info.created_unix_ms(), now),
         HumanMicros(info.compile_time_us()),
         info.producing_client().empty() ? "-" : info.producing_client()});
  }
  if (!entries.empty()) table.Print(out);
  out << entries.size() << " of " << Count(total, "entry", "entries");
  if (!next_page_token.empty()) {
    out << "; next page: --page-token " << next_page_token;
  }
  out << "\n";
  return 0;
}

absl::StatusOr<int> RunShow(client::KilnClient& client,
                            const GlobalOptions& options,
                            const ShowOptions& show, std::ostream& out) {
  client::AdminClient admin(client);
  absl::StatusOr<std::string> key = FullKey(admin, show.key);
  if (!key.ok()) return key.status();
  absl::StatusOr<v1::GetResponse> entry = admin.Get(*key);
  if (!entry.ok()) return entry.status();

  if (show.dot || !show.svg.empty()) {
    const bool fused = !entry->optimized_graph_text().empty();
    const std::string& text =
        fused ? entry->optimized_graph_text() : entry->graph_text();
    if (text.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("entry ", *key, " carries no graph to draw"));
    }
    absl::StatusOr<std::string> dot =
        GraphTextToDot(text, absl::StrCat("artifact ", ShortKey(*key), " on ",
                                          entry->info().target(),
                                          fused ? " (after fusion)" : ""));
    if (!dot.ok()) return dot.status();
    if (show.dot) out << *dot;
    if (!show.svg.empty()) {
      if (absl::Status s = RenderSvg(*dot, show.svg); !s.ok()) return s;
      if (!show.dot) out << "wrote " << show.svg << "\n";
    }
    return 0;
  }
  if (show.graph) {
    if (entry->graph_text().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("entry ", *key, " carries no graph text"));
    }
    out << entry->graph_text();
    if (entry->graph_text().back() != '\n') out << "\n";
    return 0;
  }
  if (options.json) {
    PrintJson(ProtoToJson(*entry), out);
    return 0;
  }
  const v1::ArtifactInfo& info = entry->info();
  const int64_t now = NowMs();
  Table table;
  table.AddRow({"artifact", info.artifact_key()});
  table.AddRow({"graph", info.graph_digest()});
  table.AddRow({"guards", info.guards_digest()});
  table.AddRow({"target", info.target()});
  table.AddRow(
      {"size", absl::StrCat(HumanBytes(info.size_bytes()), " stored")});
  table.AddRow({"hits", absl::StrCat(info.hit_count())});
  table.AddRow(
      {"created", absl::StrCat(UtcTime(info.created_unix_ms()), " (",
                               HumanAge(info.created_unix_ms(), now), ")")});
  table.AddRow({"last used",
                absl::StrCat(UtcTime(info.last_used_unix_ms()), " (",
                             HumanAge(info.last_used_unix_ms(), now), ")")});
  table.AddRow({"compile time", HumanMicros(info.compile_time_us())});
  table.AddRow({"client", info.producing_client().empty()
                              ? "-"
                              : info.producing_client()});
  table.AddRow({"entry", absl::StrCat("#", info.entry_index(),
                                      " of its graph on this target "
                                      "(0 = newest)")});
  bool first = true;
  for (const std::string& g : entry->guard_descriptions()) {
    table.AddRow({first ? "guards in words" : "", g});
    first = false;
  }
  first = true;
  for (int i = 0; i < entry->output_spec().outputs_size(); ++i) {
    const v1::OutputInfo& o = entry->output_spec().outputs(i);
    std::string what;
    switch (o.kind()) {
      case v1::OutputInfo::TENSOR:
        what = TensorMetaText(o.meta());
        if (o.has_aliases_input()) {
          absl::StrAppend(&what, " (a view of input ", o.aliases_input(), ")");
        }
        break;
      case v1::OutputInfo::SYMINT:
        what = "SymInt";
        break;
      case v1::OutputInfo::SCALAR:
        what = "scalar";
        break;
      default:
        what = "None";
    }
    table.AddRow({first ? "outputs" : "", absl::StrCat("#", i, " ", what)});
    first = false;
  }
  for (const v1::InputMutationSpec& m : entry->output_spec().mutated_inputs()) {
    table.AddRow({"mutates", absl::StrCat("input ", m.input_index())});
  }
  table.Print(out);
  if (!entry->graph_text().empty()) {
    out << "(kiln show " << ShortKey(*key)
        << " --graph prints its graph; --dot or --svg FILE draws it)\n";
  }
  return 0;
}

absl::StatusOr<int> RunStats(client::KilnClient& client,
                             const GlobalOptions& options, std::ostream& out) {
  client::AdminClient admin(client);
  absl::StatusOr<v1::StatsResponse> stats = admin.Stats();
  if (!stats.ok()) return stats.status();
  if (options.json) {
    PrintJson(ProtoToJson(*stats), out);
    return 0;
  }
  Table table;
  table.AddRow({"entries", absl::StrCat(stats->entries())});
  table.AddRow({"artifacts", absl::StrCat(stats->artifacts())});
  table.AddRow(
      {"stored",
       stats->capacity_bytes() > 0
           ? absl::StrCat(HumanBytes(stats->bytes()), " of ",
                          HumanBytes(stats->capacity_bytes()))
           : absl::StrCat(HumanBytes(stats->bytes()), " (no size limit)")});
  table.AddRow({"hits", absl::StrCat(stats->hits())});
  table.AddRow({"misses", absl::StrCat(stats->misses())});
  table.AddRow(
      {"hit rate", absl::StrFormat("%.1f%%", 100 * stats->hit_rate())});
  table.AddRow({"evictions", absl::StrCat(stats->evictions())});
  table.AddRow({"corruptions", absl::StrCat(stats->corruptions_detected())});
  table.AddRow(
      {"compile time saved", HumanMicros(stats->compile_time_saved_us())});
  table.Print(out);
  out << "(hits, misses, evictions and time saved count since the server "
         "started)\n";
  if (stats->by_target_size() > 0) {
    out << "\n";
    Table targets;
    targets.AddRow(
        {"TARGET", "ENTRIES", "STORED", "HITS", "MISSES", "HIT RATE"});
    for (const v1::TargetStats& t : stats->by_target()) {
      int64_t calls = t.hits() + t.misses();
      targets.AddRow(
          {t.target(), absl::StrCat(t.entries()), HumanBytes(t.bytes()),
           absl::StrCat(t.hits()), absl::StrCat(t.misses()),
           calls == 0 ? "-"
                      : absl::StrFormat("%.1f%%", 100.0 * t.hits() / calls)});
    }
    targets.Print(out);
  }
  return 0;
}

absl::StatusOr<int> RunExplain(client::KilnClient& client,
                               const GlobalOptions& options,
                               const ExplainOptions& explain,
                               std::ostream& out) {
  client::AdminClient admin(client);
  v1::ExplainRequest request;
  if (!IsDigest(explain.graph_digest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", explain.graph_digest,
        "' is not a graph digest (64 lowercase hex characters; `kiln ls "
        "--wide` shows them)"));
  }
  request.set_graph_digest(explain.graph_digest);
  if (explain.target.empty() == explain.backend.empty()) {
    return absl::InvalidArgumentError(
        "give exactly one of --target (as `kiln ls` shows it) and "
        "--backend");
  }
  if (!explain.target.empty()) {
    request.set_target(explain.target);
  } else {
    v1::TargetSpec* spec = request.mutable_target_spec();
    spec->set_backend(explain.backend);
    spec->set_device_index(explain.device_index);
    for (const std::string& o : explain.options) {
      std::vector<std::string> kv = absl::StrSplit(o, absl::MaxSplits('=', 1));
      if (kv.size() != 2 || kv[0].empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--option: '", o, "' is not KEY=VALUE"));
      }
      (*spec->mutable_options())[kv[0]] = kv[1];
    }
  }
  absl::StatusOr<v1::CallSignature> signature =
      BuildSignature(explain.signature);
  if (!signature.ok()) return signature.status();
  *request.mutable_signature() = std::move(*signature);
  absl::StatusOr<v1::ExplainResponse> response = admin.Explain(request);
  if (!response.ok()) return response.status();

  if (options.json) {
    PrintJson(ProtoToJson(*response), out);
    return 0;
  }
  const int64_t now = NowMs();
  if (response->entries().empty()) {
    out << "no entries for graph " << ShortKey(explain.graph_digest)
        << " on this target: the call would compile\n";
  }
  int hit = -1;
  Table table;
  table.AddRow({"#", "ARTIFACT", "CREATED", "RESULT"});
  for (const v1::EntryExplanation& e : response->entries()) {
    std::string result;
    if (e.would_hit()) {
      result = "HIT";
      if (hit < 0) hit = e.entry_index();
    } else if (e.needs_metadata_guard()) {
      result = "candidate: the client's __metadata_guard__ decides";
    } else {
      const v1::GuardFailure& f = e.first_failure();
      result = absl::StrCat("miss: ", f.message(), " [",
                            v1::GuardFailure::Kind_Name(f.kind()), "]");
    }
    table.AddRow({absl::StrCat(e.entry_index()), ShortKey(e.artifact_key()),
                  HumanAge(e.created_unix_ms(), now), result});
  }
  if (!response->entries().empty()) {
    table.Print(out);
    if (hit >= 0) {
      out << "the call hits entry #" << hit << "\n";
    } else {
      out << "no entry holds: the call would compile a new entry\n";
    }
  }
  if (response->recompile_limit_reached()) {
    out << "the recompile limit is reached: a new entry would not be "
           "compiled; the client runs eagerly\n";
  }
  for (const v1::DynamicDimHint& h : response->dynamic_hints()) {
    out << "dims seen to change: " << h.path() << " dims "
        << absl::StrJoin(h.dims(), ", ") << " (mark them dynamic)\n";
  }
  return 0;
}

absl::StatusOr<int> RunEvict(client::KilnClient& client,
                             const GlobalOptions& options,
                             const EvictOptions& evict, std::ostream& out) {
  client::AdminClient admin(client);
  v1::EvictRequest request;
  const FilterFlags& f = evict.filter;
  const bool graph_only = !f.graph.empty() && f.target.empty() &&
                          f.client.empty() && f.older_than.empty() &&
                          f.newer_than.empty() && f.min_size.empty() &&
                          f.max_size.empty();
  const bool older_only = f.graph.empty() && f.target.empty() &&
                          f.client.empty() && !f.older_than.empty() &&
                          f.newer_than.empty() && f.min_size.empty() &&
                          f.max_size.empty();
  int selectors = (!evict.key.empty()) + evict.all + f.any();
  if (selectors != 1) {
    return absl::InvalidArgumentError(
        selectors == 0
            ? "say what to evict: an artifact KEY, --graph, --older-than, "
              "other filter flags, or --all"
            : "give only one of KEY, --all and filter flags");
  }
  if (!evict.key.empty()) {
    absl::StatusOr<std::string> key = FullKey(admin, evict.key);
    if (!key.ok()) return key.status();
    request.set_artifact_key(*key);
  } else if (evict.all) {
    request.set_all(true);
  } else if (graph_only) {
    if (!IsDigest(f.graph)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--graph: '", f.graph,
          "' is not a graph digest (64 lowercase hex characters)"));
    }
    request.set_graph_digest(f.graph);
  } else if (older_only) {
    absl::StatusOr<int64_t> s = ParseDurationSeconds(f.older_than);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--older-than: ", s.status().message()));
    }
    request.set_older_than_s(*s);
  } else {
    absl::StatusOr<v1::EntryFilter> filter = BuildFilter(f);
    if (!filter.ok()) return filter.status();
    *request.mutable_filter() = *filter;
  }
  request.set_dry_run(evict.dry_run);
  absl::StatusOr<v1::EvictResponse> response = admin.Evict(request);
  if (!response.ok()) return response.status();
  if (options.json) {
    nlohmann::ordered_json doc = ProtoToJson(*response);
    doc["dry_run"] = evict.dry_run;
    PrintJson(doc, out);
    return 0;
  }
  for (const std::string& key : response->artifact_keys()) {
    out << (evict.dry_run ? "would evict " : "evicted ") << key << "\n";
  }
  out << (evict.dry_run ? "would evict " : "evicted ")
      << Count(response->evicted_entries(), "entry", "entries") << ", "
      << HumanBytes(response->evicted_bytes()) << "\n";
  return 0;
}

}  // namespace kiln::cli
