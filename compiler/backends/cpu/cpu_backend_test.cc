// The CPU backend's own behaviour: the plan it makes (step kinds, kernel
// dedup, buffers), key lines of the generated source, artifact integrity
// (hash, target, format) and which ops of the captured graphs still run on
// their reference implementation.
#include "compiler/backends/cpu/cpu_backend.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "compiler/backends/backend.h"
#include "compiler/backends/cpu/cpu_executable.h"
#include "compiler/backends/plan.pb.h"
#include "compiler/backends/testing/backend_testing.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/convert.h"
#include "compiler/ir/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::cpu {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<ir::Graph> Parse(const std::string& text) {
  auto g = ir::ParseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : nullptr;
}

constexpr char kMixed[] = R"(graph(%x: f32[8, 16], %w: f32[16, 4], %b: f32[4]) {
  %add = aten::add.Tensor(%x, %x, alpha=2) : f32[8, 16]
  %add2 = aten::add.Tensor(%x, %x, alpha=2) : f32[8, 16]
  %mm = aten::mm.default(%add, %w) : f32[8, 4]
  %t = aten::t.default(%mm) : f32[4, 8]{1, 4}
  %sum = aten::sum.dim_IntList(%t, [1]) : f32[4]
  %relu = aten::relu.default(%add2) : f32[8, 16]
  return (%sum, %relu)
})";

TEST(CpuPlanTest, StepKindsAndKernelDedup) {
  auto g = Parse(kMixed);
  ASSERT_NE(g, nullptr);
  auto planned = PlanGraph(*g);
  ASSERT_TRUE(planned.ok()) << planned.status();
  const plan::Plan& p = planned->plan;
  std::vector<std::string> kinds;
  for (const plan::Step& s : p.steps()) {
    kinds.push_back(plan::Step::Kind_Name(s.kind()));
  }
  EXPECT_THAT(kinds, ElementsAre("KERNEL", "KERNEL", "LIBRARY_CALL", "VIEW",
                                 "KERNEL", "KERNEL"));
  // The two identical adds share one kernel.
  EXPECT_EQ(p.steps(0).kernel(), p.steps(1).kernel());
  EXPECT_EQ(p.kernels_size(), 3);
  EXPECT_THAT(p.kernels(0).nodes(), ElementsAre(0, 1));
  EXPECT_EQ(p.steps(2).function(), "matmul");
  EXPECT_EQ(p.kernels(p.steps(4).kernel()).kind(), "reduction");
  // Every plan output is described; %relu escapes into its own buffer.
  ASSERT_EQ(p.outputs_size(), 2);
  EXPECT_EQ(p.outputs(0).kind(), plan::Output::TENSOR);
  int escaping = 0;
  for (const plan::Buffer& b : p.buffers()) escaping += b.escapes();
  EXPECT_EQ(escaping, 2);  // %sum and %relu
  EXPECT_TRUE(planned->reference_ops.empty());
}

TEST(CpuPlanTest, BuffersAreReusedWhenLifetimesDoNotOverlap) {
  auto g = Parse(R"(graph(%x: f32[64]) {
  %a = aten::exp.default(%x) : f32[64]
  %b = aten::neg.default(%a) : f32[64]
  %c = aten::exp.default(%b) : f32[64]
  %d = aten::neg.default(%c) : f32[64]
  return (%d)
})");
  ASSERT_NE(g, nullptr);
  auto planned = PlanGraph(*g);
  ASSERT_TRUE(planned.ok()) << planned.status();
  const plan::Plan& p = planned->plan;
  // %a and %c share a buffer (so do %b and ... nothing: %d escapes).
  ASSERT_EQ(p.buffers_size(), 3);
  EXPECT_THAT(p.buffers(0).values(), ElementsAre(1, 3));
  EXPECT_THAT(p.buffers(1).values(), ElementsAre(2));
  EXPECT_FALSE(p.buffers(0).escapes());
  EXPECT_TRUE(p.buffers(2).escapes());
}

TEST(CpuCodegenTest, GeneratedSourceKeyLines) {
  auto g = Parse(kMixed);
  ASSERT_NE(g, nullptr);
  auto planned = PlanGraph(*g);
  ASSERT_TRUE(planned.ok()) << planned.status();
  const std::string& src = planned->source;
  // The pointwise add: its codegen rule, a unit-stride loop and a general
  // one, output pointers __restrict.
  EXPECT_THAT(src, HasSubstr("KILN_KERNEL int kiln_k0(const "
                             "kiln::cpu::KernelArgs* a) {"));
  EXPECT_THAT(src, HasSubstr("return kiln::cpu::RunPointwise<2>(a, kOps, "
                             "kElem, [&](int64_t n, char* const* p, const "
                             "int64_t* s) -> int {"));
  EXPECT_THAT(src, HasSubstr("float* __restrict x0 = "
                             "reinterpret_cast<float*>(p[0]);"));
  EXPECT_THAT(src, HasSubstr("if (s[0] == 1 && s[1] == 1) {"));
  EXPECT_THAT(src, HasSubstr("x0[i] = kiln::pw::Add{}(a0, a1, a2);"));
  EXPECT_THAT(src, HasSubstr("x0[i * s0] = kiln::pw::Add{}(a0, a1, a2);"));
  // The sum over a transposed view: a reducer and the reduction driver.
  EXPECT_THAT(src, HasSubstr("static constexpr bool kReduced[] = {false, "
                             "true};"));
  EXPECT_THAT(src, HasSubstr("const float x = reinterpret_cast<const "
                             "float*>(p[0])[i * s[0]];"));
  EXPECT_THAT(src, HasSubstr("    return acc + x;\n"));
  EXPECT_THAT(src, HasSubstr("return kiln::cpu::RunReduce<1, 1>(2, in.sizes, "
                             "kReduced, eb, es, ee, rb, rs, re, "
                             "a->num_threads, kiln_k1_reducer{});"));
  // Vector math declarations precede the kernels.
  EXPECT_THAT(src, HasSubstr("#pragma omp declare simd notinbranch\nfloat "
                             "expf(float);"));
  // The preamble is self-contained: no project includes.
  EXPECT_FALSE(absl::StrContains(src, "#include \"compiler/"));
}

TEST(CpuCodegenTest, ScalarsBecomeKernelArguments) {
  auto g = Parse(R"(graph(%x: f32[s0, 4], %a: float) {
  %m = aten::mul.Scalar(%x, %a) : f32[s0, 4]
  %add = aten::add.Scalar(%m, s0) : f32[s0, 4]
  return (%add)
})");
  ASSERT_NE(g, nullptr);
  auto planned = PlanGraph(*g);
  ASSERT_TRUE(planned.ok()) << planned.status();
  const plan::Plan& p = planned->plan;
  ASSERT_EQ(p.steps_size(), 2);
  ASSERT_EQ(p.steps(0).floats_size(), 1);
  EXPECT_EQ(p.steps(0).floats(0).scalar_input(), 1);
  ASSERT_EQ(p.steps(1).ints_size(), 1);
  EXPECT_EQ(p.steps(1).ints(0).arg().node(), 1);
  EXPECT_THAT(planned->source, HasSubstr("const double f0 = a->floats[0];"));
  EXPECT_THAT(planned->source, HasSubstr("const int64_t c0 = a->ints[0];"));
}

absl::StatusOr<std::unique_ptr<backends::Executable>> CompileMixed() {
  auto g = Parse(kMixed);
  if (g == nullptr) return absl::InternalError("parse");
  return CompileCpu(*g, backends::CompileOptions());
}

TEST(CpuPlanTest, FusionReducesKernelLaunches) {
  auto g = Parse(R"(graph(%x: f32[16, 300], %y: f32[16, 300], %b: f32[16]) {
  %m = aten::mul.Tensor(%x, %y) : f32[16, 300]
  %e = aten::exp.default(%m) : f32[16, 300]
  %sum = aten::sum.dim_IntList(%e, [1]) : f32[16]
  %d = aten::div.Tensor(%sum, %b) : f32[16]
  %l = aten::log.default(%d) : f32[16]
  %r = aten::relu.default(%x) : f32[16, 300]
  %s = aten::sigmoid.default(%r) : f32[16, 300]
  return (%l, %s)
})");
  ASSERT_NE(g, nullptr);
  backends::CompileOptions fused, plain;
  plain.run_passes = false;
  auto a = CompileCpu(*g, fused);
  auto b = CompileCpu(*g, plain);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*b)->stats().num_launches, 7);
  EXPECT_EQ((*a)->stats().num_launches, 2);  // one reduction, one chain
  auto* exe = dynamic_cast<CpuExecutable*>(a->get());
  ASSERT_NE(exe, nullptr);
  std::vector<std::string> kinds;
  for (const plan::Kernel& k : exe->plan().kernels()) kinds.push_back(k.kind());
  EXPECT_THAT(kinds, ::testing::UnorderedElementsAre("fused_reduction",
                                                     "fused_pointwise"));
  EXPECT_THAT(exe->source(), HasSubstr("fused reduction [aten::mul.Tensor, "
                                       "aten::exp.default, "
                                       "aten::sum.dim_IntList, "
                                       "aten::div.Tensor, aten::log.default]"));
}

TEST(CpuArtifactTest, CorruptSharedObjectIsDataLoss) {
  auto exe = CompileMixed();
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto bytes = (*exe)->Serialize();
  ASSERT_TRUE(bytes.ok());
  plan::Artifact artifact;
  ASSERT_TRUE(artifact.ParseFromString(*bytes));
  EXPECT_EQ(artifact.backend(), "cpu");
  EXPECT_THAT(artifact.toolchain(), HasSubstr("-O2"));
  EXPECT_FALSE(absl::StrContains(artifact.toolchain(), "native"));
  std::string so = artifact.shared_object();
  ASSERT_FALSE(so.empty());
  so[so.size() / 2] ^= 0x5a;
  artifact.set_shared_object(so);
  auto loaded = LoadCpu(artifact.SerializeAsString(), backends::LoadOptions());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
}

TEST(CpuArtifactTest, ForeignTargetAndVersionsAreRefused) {
  auto exe = CompileMixed();
  ASSERT_TRUE(exe.ok()) << exe.status();
  plan::Artifact artifact;
  ASSERT_TRUE(artifact.ParseFromString(*(*exe)->Serialize()));
  plan::Artifact other = artifact;
  other.set_target("cpu-aarch64");
  EXPECT_EQ(LoadCpu(other.SerializeAsString(), {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  other = artifact;
  other.set_format_version(99);
  EXPECT_EQ(LoadCpu(other.SerializeAsString(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  other = artifact;
  other.set_backend("interpreter");
  EXPECT_EQ(LoadCpu(other.SerializeAsString(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  other = artifact;
  other.mutable_plan()->mutable_steps(0)->set_kernel(42);
  EXPECT_EQ(LoadCpu(other.SerializeAsString(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  other = artifact;
  other.mutable_plan()->mutable_kernels(0)->set_symbol("no_such_kernel");
  EXPECT_EQ(LoadCpu(other.SerializeAsString(), {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CpuArtifactTest, LoadedExecutableMatchesAndNeedsNoCompiler) {
  auto exe = CompileMixed();
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto bytes = (*exe)->Serialize();
  ASSERT_TRUE(bytes.ok());
  // Loading never runs the host compiler: it works with a compiler path
  // that does not exist (the option is not even consulted).
  auto loaded = LoadCpu(*bytes, backends::LoadOptions());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->stats().host_compile_us, 0);
  auto g = Parse(kMixed);
  auto inputs = backends::testing::RandomInputs(*g, {}, 11);
  ASSERT_TRUE(inputs.ok());
  auto a = (*exe)->Run(*inputs);
  auto b = (*loaded)->Run(*inputs);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(backends::testing::CompareOutputs(*a, *b, {0.0}), "");
}

// Generated kernels convert float16 and bfloat16 with the host's hardware
// (F16C) or branch-free code, the interpreter with portable code: every
// float16 value, and floats around every rounding boundary, convert to the
// same bits (NaN payloads aside).
TEST(CpuCodegenTest, ReducedPrecisionConversionsMatchTheInterpreterBitForBit) {
  auto g = Parse(R"(graph(%h: f16[65536], %b: bf16[65536], %f: f32[s0]) {
  %hf = aten::_to_copy.default(%h, dtype=torch.float32) : f32[65536]
  %bf = aten::_to_copy.default(%b, dtype=torch.float32) : f32[65536]
  %fh = aten::_to_copy.default(%f, dtype=torch.float16) : f16[s0]
  %fb = aten::_to_copy.default(%f, dtype=torch.bfloat16) : bf16[s0]
  return (%hf, %bf, %fh, %fb)
})");
  ASSERT_NE(g, nullptr);
  auto exe = CompileCpu(*g, backends::CompileOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  rt::Tensor h = rt::Tensor::Empty(ir::DType::kFloat16, {65536});
  rt::Tensor b = rt::Tensor::Empty(ir::DType::kBFloat16, {65536});
  for (int i = 0; i < 65536; ++i) {
    uint16_t bits = static_cast<uint16_t>(i);
    std::memcpy(h.ElementPtrAtOffset(i), &bits, 2);
    std::memcpy(b.ElementPtrAtOffset(i), &bits, 2);
  }
  // Floats: every half and bfloat16 value as a float, and the floats just
  // below, at and above the midpoints between neighbours.
  std::vector<float> fs;
  for (int i = 0; i < 65536; i += 1) {
    uint32_t u = static_cast<uint32_t>(i) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    fs.push_back(f);
    uint32_t mid = u | 0x8000u;
    for (uint32_t d : {mid - 1, mid, mid + 1}) {
      std::memcpy(&f, &d, 4);
      fs.push_back(f);
    }
    uint32_t hmid = (static_cast<uint32_t>(i) << 13) | 0x1000u;
    for (uint32_t d : {hmid - 1, hmid, hmid + 1, hmid + 0x38000000u}) {
      std::memcpy(&f, &d, 4);
      fs.push_back(f);
    }
  }
  rt::Tensor f =
      rt::Tensor::Empty(ir::DType::kFloat32, {static_cast<int64_t>(fs.size())});
  std::memcpy(f.ElementPtrAtOffset(0), fs.data(), fs.size() * 4);
  std::vector<backends::RuntimeValue> inputs = {
      backends::RuntimeValue::OfTensor(h), backends::RuntimeValue::OfTensor(b),
      backends::RuntimeValue::OfTensor(f)};
  auto got = (*exe)->Run(inputs);
  ASSERT_TRUE(got.ok()) << got.status();
  auto want = interp::RunGraph(*g, inputs);
  ASSERT_TRUE(want.ok()) << want.status();
  for (int o = 0; o < 4; ++o) {
    const rt::Tensor& x = (*got)[o].tensor;
    const rt::Tensor& y = (*want)[o].tensor;
    ASSERT_EQ(x.sizes(), y.sizes());
    int64_t es = x.element_size();
    std::vector<double> xd = x.ToDoubles(), yd = y.ToDoubles();
    int mismatches = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (std::isnan(xd[i]) || std::isnan(yd[i])) {
        EXPECT_TRUE(std::isnan(xd[i]) && std::isnan(yd[i])) << i;
        continue;
      }
      if (std::memcmp(x.ElementPtrAtOffset(i), y.ElementPtrAtOffset(i), es) !=
              0 &&
          ++mismatches <= 5) {
        ADD_FAILURE() << "output " << o << " element " << i << ": " << xd[i];
      }
    }
    EXPECT_EQ(mismatches, 0) << "output " << o;
  }
}

// The ops of the captured graphs (tests/data/graphs) that have no generated
// code and run through their reference implementation: the explicit list.
TEST(CpuPlanTest, CapturedGraphsFallBackOnlyForTheListedOps) {
  const std::set<std::string> kReferenceOps = {
      "aten::nll_loss_forward.default",
      "aten::nll_loss_backward.default",
  };
  std::set<std::string> seen;
  for (const char* name :
       {"creation", "empty_dims", "int_bool", "layer_norm", "low_precision",
        "mlp_bw", "mlp_fw", "pointwise", "reductions", "softmax",
        "transformer_bw", "transformer_fw", "transformer_prenorm_bw",
        "transformer_prenorm_fw", "views"}) {
    std::ifstream f(std::string("tests/data/graphs/") + name + ".pb",
                    std::ios::binary);
    ASSERT_TRUE(f) << name;
    v1::Graph proto;
    ASSERT_TRUE(proto.ParseFromIstream(&f)) << name;
    auto g = ir::GraphFromProto(proto);
    ASSERT_TRUE(g.ok()) << name << ": " << g.status();
    auto planned = PlanGraph(**g);
    ASSERT_TRUE(planned.ok()) << name << ": " << planned.status();
    for (const std::string& op : planned->reference_ops) seen.insert(op);
  }
  EXPECT_EQ(seen, kReferenceOps);
}

}  // namespace
}  // namespace kiln::cpu
