// Fills a kiln-server data directory with real cache entries, for the
// CacheAdmin and CLI end-to-end tests, the way the Compiler service stores
// them: a small graph compiled by the server's compile pipeline into an
// artifact envelope, stored through ArtifactCache::GetOrCompile.
//
//   admin_store_writer --data-dir=DIR ENTRY...
//
// ENTRY is comma-separated key=value pairs:
//   graph=G     which graph: G+1 chained pointwise ops over two
//               f32[s0, 4] inputs (each G its own digest and size)
//   variant=V   which guard set: s0 in [10V+2, 10V+11] (a call with
//               s0 = 10V+4 hits exactly this entry)
//   client=C    producing client (default "writer")
//   age_s=A     created (and last used) A seconds ago (default 0)
//   hits=N      N Lookup hits after storing it (default 0)
//   device=D    "interpreter" (default) or another device target such as
//               "cuda-sm_90": the entry is then stored as an artifact of
//               backend "cuda" built for D elsewhere (for refusals)
//
// Prints one line per entry: "ENTRY <artifact_key> <graph_digest>
// <target> <stored bytes>". Exit code 1 on any error.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cache/artifact_cache.h"
#include "cache/graph_digest.h"
#include "cache/guards/guard_set.h"
#include "cache/keys.h"
#include "compiler/ir/text.h"
#include "kiln/version.h"
#include "server/artifact_envelope.pb.h"
#include "server/compile_pipeline.h"
#include "spdlog/spdlog.h"

namespace {

struct EntrySpec {
  int graph = 0;
  int variant = 0;
  std::string client = "writer";
  int64_t age_s = 0;
  int hits = 0;
  std::string device = "interpreter";
};

absl::StatusOr<EntrySpec> ParseSpec(const std::string& text) {
  EntrySpec spec;
  std::vector<std::string> pairs = absl::StrSplit(text, ',');
  for (const std::string& pair : pairs) {
    std::vector<std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    bool ok = kv.size() == 2;
    if (ok && kv[0] == "graph") {
      ok = absl::SimpleAtoi(kv[1], &spec.graph) && spec.graph >= 0;
    } else if (ok && kv[0] == "variant") {
      ok = absl::SimpleAtoi(kv[1], &spec.variant) && spec.variant >= 0;
    } else if (ok && kv[0] == "client") {
      spec.client = kv[1];
    } else if (ok && kv[0] == "age_s") {
      ok = absl::SimpleAtoi(kv[1], &spec.age_s);
    } else if (ok && kv[0] == "hits") {
      ok = absl::SimpleAtoi(kv[1], &spec.hits);
    } else if (ok && kv[0] == "device") {
      spec.device = kv[1];
    } else {
      ok = false;
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad entry field '", pair, "' in '", text, "'"));
    }
  }
  return spec;
}

// G+1 pointwise ops chained over %x and %y.
std::string GraphText(int g) {
  std::string text =
      "graph(%x: f32[s0, 4], %y: f32[s0, 4]) {\n"
      "  %v0 = aten::add.Tensor(%x, %y) : f32[s0, 4]\n";
  const char* ops[] = {"aten::mul.Tensor(%v{}, %x)",
                       "aten::sub.Tensor(%v{}, %y)",
                       "aten::relu.default(%v{})"};
  for (int i = 1; i <= g; ++i) {
    std::string op = ops[(i - 1) % 3];
    op.replace(op.find("{}"), 2, absl::StrCat(i - 1));
    absl::StrAppend(&text, "  %v", i, " = ", op, " : f32[s0, 4]\n");
  }
  absl::StrAppend(&text, "  return (%v", g, ")\n}\n");
  return text;
}

kiln::v1::GlobalState DefaultGlobalState() {
  kiln::v1::GlobalState g;
  g.set_grad_mode(true);
  g.set_torch_function(kiln::v1::GlobalState::ENABLED);
  auto* cpu = g.add_autocast();
  cpu->set_device_type("cpu");
  cpu->set_dtype(kiln::v1::BFLOAT16);
  auto* cuda = g.add_autocast();
  cuda->set_device_type("cuda");
  cuda->set_dtype(kiln::v1::FLOAT16);
  g.set_default_dtype(kiln::v1::FLOAT32);
  g.set_fp32_matmul_precision(kiln::v1::GlobalState::HIGHEST);
  return g;
}

// Guards for `graph` (canonical): its placeholders' metadata, s0 in the
// variant's range.
kiln::v1::GuardContext GuardsFor(const kiln::v1::Graph& graph, int variant) {
  kiln::v1::GuardContext ctx;
  for (const kiln::v1::Placeholder& p : graph.placeholders()) {
    kiln::v1::TensorGuard* t = ctx.add_inputs()->mutable_tensor();
    t->set_type_name("torch.Tensor");
    *t->mutable_meta() = p.tensor();
  }
  kiln::v1::SymbolDecl* s0 = ctx.add_symbols();
  s0->set_name("s0");
  s0->set_hint(10 * variant + 4);
  s0->set_min(10 * variant + 2);
  s0->set_max(10 * variant + 11);
  *ctx.mutable_global_state() = DefaultGlobalState();
  return ctx;
}

kiln::v1::CallSignature CallFor(int variant) {
  kiln::v1::CallSignature call;
  for (int i = 0; i < 2; ++i) {
    kiln::v1::TensorGuard* t = call.add_inputs()->mutable_tensor();
    t->set_type_name("torch.Tensor");
    kiln::v1::TensorMeta* m = t->mutable_meta();
    m->set_dtype(kiln::v1::FLOAT32);
    m->mutable_device()->set_type(kiln::v1::CPU);
    m->add_sizes()->set_static_size(10 * variant + 4);
    m->add_sizes()->set_static_size(4);
    m->add_strides()->set_static_size(4);
    m->add_strides()->set_static_size(1);
  }
  *call.mutable_global_state() = DefaultGlobalState();
  return call;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "admin_store_writer: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir;
  std::vector<EntrySpec> specs;
  for (int a = 1; a < argc; ++a) {
    std::string arg = argv[a];
    if (absl::StartsWith(arg, "--data-dir=")) {
      data_dir = arg.substr(11);
      continue;
    }
    absl::StatusOr<EntrySpec> spec = ParseSpec(arg);
    if (!spec.ok()) return Fail(spec.status());
    specs.push_back(*spec);
  }
  if (data_dir.empty()) {
    return Fail(absl::InvalidArgumentError("--data-dir is required"));
  }
  spdlog::set_level(spdlog::level::warn);
  absl::Time now = absl::Now();
  absl::Time clock_at = now;
  kiln::cache::ArtifactCacheOptions options;
  options.store.data_dir = data_dir;
  options.compile_threads = 1;
  options.usage_flush_interval = absl::ZeroDuration();
  options.clock = [&clock_at] { return clock_at; };
  absl::StatusOr<std::unique_ptr<kiln::cache::ArtifactCache>> cache =
      kiln::cache::ArtifactCache::Create(options);
  if (!cache.ok()) return Fail(cache.status());

  kiln::v1::TargetSpec interpreter;
  interpreter.set_backend("interpreter");
  absl::StatusOr<kiln::server::ResolvedTarget> resolved =
      kiln::server::ResolveTargetSpec(interpreter, "target");
  if (!resolved.ok()) return Fail(resolved.status());

  for (const EntrySpec& spec : specs) {
    absl::StatusOr<kiln::v1::Graph> parsed =
        kiln::ir::ParseGraphToProto(GraphText(spec.graph));
    if (!parsed.ok()) return Fail(parsed.status());
    absl::StatusOr<kiln::v1::Graph> graph =
        kiln::cache::CanonicalizeGraph(*parsed);
    if (!graph.ok()) return Fail(graph.status());
    absl::StatusOr<std::string> digest = kiln::cache::GraphDigest(*graph);
    if (!digest.ok()) return Fail(digest.status());
    absl::StatusOr<std::shared_ptr<const kiln::cache::GuardSet>> guards =
        kiln::cache::GuardSet::Create(GuardsFor(*graph, spec.variant));
    if (!guards.ok()) return Fail(guards.status());
    const bool foreign = spec.device != "interpreter";
    const std::string target =
        foreign
            ? kiln::cache::ResolveTarget(
                  spec.device, {}, kiln::kCompilerVersion, kiln::kDefaultSalt)
            : resolved->target;

    clock_at = now - absl::Seconds(spec.age_s);
    absl::StatusOr<kiln::cache::GetOrCompileResult> r = (*cache)->GetOrCompile(
        {*digest, target, *guards},
        [&](const kiln::cache::CompileContext& ctx)
            -> absl::StatusOr<kiln::cache::CompiledArtifact> {
          absl::StatusOr<kiln::cache::CompiledArtifact> a =
              kiln::server::CompileGraph(*graph, *resolved, {}, &ctx);
          if (!a.ok() || !foreign) return a;
          // Relabel it as built for another device elsewhere.
          kiln::server::envelope::ArtifactEnvelope env;
          if (!env.ParseFromString(a->payload)) {
            return absl::InternalError("envelope does not parse");
          }
          env.set_backend(
              std::string(spec.device.substr(0, spec.device.find('-'))));
          env.set_target(target);
          a->payload = env.SerializeAsString();
          return a;
        },
        {.client_id = spec.client});
    if (!r.ok()) return Fail(r.status());
    const std::string key = r->artifact.artifact_key();
    r->artifact = kiln::cache::ArtifactHandle();
    for (int h = 0; h < spec.hits; ++h) {
      absl::StatusOr<kiln::v1::LookupResponse> hit =
          (*cache)->Lookup(*digest, target, CallFor(spec.variant));
      if (!hit.ok()) return Fail(hit.status());
      if (!hit->has_hit() || hit->hit().artifact_key() != key) {
        return Fail(absl::InternalError("a lookup hit another entry"));
      }
    }
    clock_at = now;
    std::optional<kiln::v1::ArtifactInfo> info = (*cache)->GetInfo(key);
    std::printf("ENTRY %s %s %s %lld\n", key.c_str(), digest->c_str(),
                target.c_str(),
                static_cast<long long>(info ? info->size_bytes() : -1));
  }
  absl::Status closed = (*cache)->Close();
  if (!closed.ok()) return Fail(closed);
  return 0;
}
