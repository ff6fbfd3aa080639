// ArtifactCache: Lookup and Explain (evaluating a graph's entries newest
// first against a concrete call) and the per-graph record of wobbled dims.

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cache/artifact_cache_impl.h"
#include "spdlog/spdlog.h"

namespace kiln::cache::internal {

bool MergeHints(std::vector<v1::DynamicDimHint>& into,
                const std::vector<v1::DynamicDimHint>& add) {
  bool changed = false;
  for (const v1::DynamicDimHint& hint : add) {
    auto it = std::find_if(into.begin(), into.end(),
                           [&](const v1::DynamicDimHint& h) {
                             return h.input_index() == hint.input_index() &&
                                    h.path() == hint.path();
                           });
    if (it == into.end()) {
      into.push_back(hint);
      it = into.end() - 1;
      it->clear_dims();
      changed = true;
    }
    std::set<int> dims(it->dims().begin(), it->dims().end());
    size_t before = dims.size();
    dims.insert(hint.dims().begin(), hint.dims().end());
    if (dims.size() != before || it->dims_size() != static_cast<int>(before)) {
      changed = true;
      it->clear_dims();
      for (int d : dims) it->add_dims(d);
    }
  }
  std::sort(into.begin(), into.end(),
            [](const v1::DynamicDimHint& a, const v1::DynamicDimHint& b) {
              return std::make_pair(a.input_index(), a.path()) <
                     std::make_pair(b.input_index(), b.path());
            });
  return changed;
}

namespace {

std::string DescribeHints(const std::vector<v1::DynamicDimHint>& hints) {
  std::vector<std::string> parts;
  for (const v1::DynamicDimHint& h : hints) {
    parts.push_back(absl::StrCat(h.path(),
                                 h.dims_size() == 1 ? " dim " : " dims ",
                                 absl::StrJoin(h.dims(), ", ")));
  }
  return absl::StrJoin(parts, "; ");
}

}  // namespace

std::vector<v1::DynamicDimHint> CacheImpl::WobbleAgainst(
    const EntryList& list, const v1::CallSignature& signature) const {
  std::vector<v1::DynamicDimHint> wobbled;
  for (const auto& entry : list.entries) {
    MergeHints(wobbled, entry->guards->WobbledDims(signature));
  }
  return wobbled;
}

bool CacheImpl::RecordWobble(const std::string& graph_digest,
                             const std::vector<v1::DynamicDimHint>& wobbled) {
  if (wobbled.empty()) return false;
  {
    absl::MutexLock lock(&index_mu_);
    if (!MergeHints(graphs_[graph_digest].hints, wobbled)) return false;
  }
  {
    absl::MutexLock lock(&dirty_mu_);
    dirty_graphs_.insert(graph_digest);
  }
  spdlog::info(
      "artifact cache: graph {}: sizes wobbled at {}; hinting them "
      "dynamic",
      graph_digest, DescribeHints(wobbled));
  return true;
}

void CacheImpl::CountHit(CacheEntry& entry, TargetCounters* counters,
                         const std::shared_ptr<CacheEntry>& shared) {
  entry.last_used_unix_ms.store(NowMs(), std::memory_order_relaxed);
  entry.hit_count.fetch_add(1, std::memory_order_relaxed);
  if (counters != nullptr) counters->hits.fetch_add(1);
  hits_.fetch_add(1, std::memory_order_relaxed);
  compile_time_saved_us_.fetch_add(entry.compile_time_us,
                                   std::memory_order_relaxed);
  MarkUsageDirty(shared);
}

absl::StatusOr<v1::LookupResponse> CacheImpl::Lookup(
    std::string_view graph_digest, std::string_view target,
    const v1::CallSignature& signature, const LookupOptions& options) {
  if (absl::Status s = CheckKeyParts(graph_digest, target); !s.ok()) return s;
  if (absl::Status s = ValidateSignature(signature, options_.guard_limits);
      !s.ok()) {
    return s;
  }
  v1::LookupResponse response;
  response.set_graph_digest(std::string(graph_digest));
  response.set_target(std::string(target));
  std::shared_ptr<const EntryList> list = FindList(graph_digest, target);
  if (list != nullptr) {
    static const EvalOptions kSkipCustom{.skip_custom_metadata = true};
    for (size_t i = 0; i < list->entries.size(); ++i) {
      const std::shared_ptr<CacheEntry>& entry = list->entries[i];
      const GuardSet& guards = *entry->guards;
      if (guards.has_custom_metadata_guard()) {
        // Only the client's __metadata_guard__ can say whether it serves.
        if (guards.Check(signature, kSkipCustom)) {
          v1::MetadataCandidate* c = response.add_candidates();
          c->set_artifact_key(entry->artifact_key);
          c->set_entry_index(static_cast<int>(i));
          *c->mutable_output_spec() = entry->output_spec;
          for (v1::StoredMetadata& m : guards.CustomMetadata()) {
            *c->add_metadata() = std::move(m);
          }
          c->set_guards_digest(entry->guards_digest);
        }
        continue;
      }
      if (!guards.Check(signature)) continue;
      v1::LookupHit* hit = response.mutable_hit();
      hit->set_artifact_key(entry->artifact_key);
      *hit->mutable_output_spec() = entry->output_spec;
      hit->set_entry_index(static_cast<int>(i));
      hit->set_guards_digest(entry->guards_digest);
      CountHit(*entry, list->counters, entry);
      spdlog::debug(
          "artifact cache: lookup hit artifact_key={} graph_digest={} "
          "guards_digest={} target={} entry_index={} client={}",
          entry->artifact_key, entry->graph_digest, entry->guards_digest,
          entry->target, i, options.client_id);
      for (v1::DynamicDimHint& h : HintsFor(graph_digest)) {
        *response.add_dynamic_hints() = std::move(h);
      }
      return response;
    }
  }

  // No entry holds outright.
  int count = list == nullptr ? 0 : static_cast<int>(list->entries.size());
  v1::LookupMiss* miss = response.mutable_miss();
  miss->set_entry_count(count);
  miss->set_recompile_limit_reached(count >= options_.recompile_limit);
  std::vector<v1::DynamicDimHint> wobbled;
  if (list != nullptr) {
    wobbled = WobbleAgainst(*list, signature);
    RecordWobble(std::string(graph_digest), wobbled);
  }
  for (v1::DynamicDimHint& h : HintsFor(graph_digest)) {
    *response.add_dynamic_hints() = std::move(h);
  }
  if (response.candidates_size() == 0) {
    (list != nullptr ? list->counters
                     : CountersFor(target, /*has_entries=*/false))
        ->misses.fetch_add(1);
    misses_.fetch_add(1);
  }
  if (options.explain && list != nullptr) {
    absl::StatusOr<v1::ExplainResponse> explained =
        Explain(graph_digest, target, signature);
    if (explained.ok()) {
      for (v1::EntryExplanation& e : *explained->mutable_entries()) {
        *miss->add_explanations() = std::move(e);
      }
    }
  }

  std::string advice;
  if (count == 0) {
    advice = absl::StrCat("no entries for this graph on ", std::string(target));
  } else if (miss->recompile_limit_reached()) {
    advice = absl::StrCat("this graph has ", count, " entries on ",
                          std::string(target),
                          ", the recompile limit; run it eagerly");
  } else if (!wobbled.empty()) {
    advice = absl::StrCat(DescribeHints(wobbled),
                          " changed size; retrace them dynamic");
  } else if (response.candidates_size() > 0) {
    advice = absl::StrCat(response.candidates_size(),
                          " entries need the client's __metadata_guard__ to "
                          "decide");
  } else {
    std::optional<v1::GuardFailure> newest =
        list->entries[0]->guards->Explain(signature);
    advice = absl::StrCat("none of the ", count,
                          " entries holds; the newest fails at ",
                          newest.has_value() ? newest->message() : "?");
  }
  miss->set_advice(advice);
  spdlog::debug(
      "artifact cache: lookup miss graph_digest={} target={} "
      "entries={} candidates={} client={}: {}",
      graph_digest, target, count, response.candidates_size(),
      options.client_id, advice);
  return response;
}

absl::StatusOr<v1::ExplainResponse> CacheImpl::Explain(
    std::string_view graph_digest, std::string_view target,
    const v1::CallSignature& signature) const {
  if (absl::Status s = CheckKeyParts(graph_digest, target); !s.ok()) return s;
  if (absl::Status s = ValidateSignature(signature, options_.guard_limits);
      !s.ok()) {
    return s;
  }
  v1::ExplainResponse response;
  std::shared_ptr<const EntryList> list = FindList(graph_digest, target);
  std::vector<v1::DynamicDimHint> hints = HintsFor(graph_digest);
  if (list != nullptr) {
    for (size_t i = 0; i < list->entries.size(); ++i) {
      const CacheEntry& entry = *list->entries[i];
      v1::EntryExplanation* e = response.add_entries();
      e->set_artifact_key(entry.artifact_key);
      e->set_guards_digest(entry.guards_digest);
      e->set_created_unix_ms(entry.created_unix_ms);
      e->set_entry_index(static_cast<int>(i));
      bool custom = entry.guards->has_custom_metadata_guard();
      std::optional<v1::GuardFailure> failure = entry.guards->Explain(
          signature, EvalOptions{.skip_custom_metadata = custom});
      if (failure.has_value()) {
        *e->mutable_first_failure() = std::move(*failure);
      } else if (custom) {
        e->set_needs_metadata_guard(true);
      } else {
        e->set_would_hit(true);
      }
    }
    response.set_recompile_limit_reached(
        static_cast<int>(list->entries.size()) >= options_.recompile_limit);
    MergeHints(hints, WobbleAgainst(*list, signature));
  }
  for (v1::DynamicDimHint& h : hints)
    *response.add_dynamic_hints() = std::move(h);
  return response;
}

}  // namespace kiln::cache::internal
