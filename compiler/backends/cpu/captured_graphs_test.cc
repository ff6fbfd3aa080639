// Every captured graph (tests/data/graphs: MLP and TransformerEncoderLayer
// forward and backward, op-family functions) compiled by the CPU backend,
// with and without the compiler's passes (fusion), against the reference
// interpreter on random inputs. Without passes, the graph is also run with
// every node's result as an extra output, so a mismatch names the first
// node that computes something else. (The comparison with the outputs
// PyTorch stored is tests/python/test_captured_on_kiln.py, through
// kiln-run --backend=cpu.)
#include <fstream>

#include "absl/strings/str_cat.h"
#include "compiler/backends/backend.h"
#include "compiler/backends/testing/backend_testing.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/convert.h"
#include "compiler/ir/text.h"
#include "gtest/gtest.h"

namespace kiln::backends {
namespace {

using testing::CloneInputs;
using testing::CompareValues;
using testing::RandomInputs;

std::unique_ptr<ir::Graph> Load(const std::string& name) {
  std::ifstream f("tests/data/graphs/" + name + ".pb", std::ios::binary);
  v1::Graph proto;
  if (!f || !proto.ParseFromIstream(&f)) return nullptr;
  auto g = ir::GraphFromProto(proto);
  EXPECT_TRUE(g.ok()) << name << ": " << g.status();
  return g.ok() ? *std::move(g) : nullptr;
}

// The graph with every node's tensor outputs appended to its outputs.
std::unique_ptr<ir::Graph> WithEveryValue(const ir::Graph& graph,
                                          std::vector<std::string>* names) {
  auto g = ir::ParseGraph(ir::PrintGraph(graph));
  if (!g.ok()) return nullptr;
  std::vector<ir::Arg> outs = (*g)->outputs();
  for (const auto& n : (*g)->nodes()) {
    for (int i = 0; i < n->num_outputs(); ++i) {
      if (n->output(i) == nullptr || !n->output(i)->is_tensor()) continue;
      outs.push_back(ir::Arg::OfValue(n->output(i)));
      names->push_back(absl::StrCat("nodes[", n->index(), "] ", n->op().name(),
                                    " output ", i));
    }
  }
  (*g)->SetOutputs(outs);
  return *std::move(g);
}

class CapturedGraphsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CapturedGraphsTest, MatchesTheInterpreter) {
  auto graph = Load(GetParam());
  ASSERT_NE(graph, nullptr);
  auto backend = CreateBackend("cpu");
  ASSERT_TRUE(backend.ok());
  // Small values (backward graphs multiply many of them) and indices in
  // range (targets, index_select, embedding).
  testing::RandomRanges ranges;
  ranges.float_low = -1;
  ranges.float_high = 1;
  ranges.int_low = 0;
  ranges.int_high = 2;
  auto inputs = RandomInputs(*graph, {}, 5, ranges);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  auto want = interp::RunGraph(*graph, CloneInputs(*inputs));
  ASSERT_TRUE(want.ok()) << want.status();
  const double scale = 50;  // reassociated reductions and matrix products

  // Node by node, without passes.
  std::vector<std::string> names;
  auto every = WithEveryValue(*graph, &names);
  ASSERT_NE(every, nullptr);
  CompileOptions plain;
  plain.run_passes = false;
  auto exe = (*backend)->Compile(*every, plain);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto got = (*exe)->Run(CloneInputs(*inputs));
  ASSERT_TRUE(got.ok()) << got.status();
  auto want_every = interp::RunGraph(*every, CloneInputs(*inputs));
  ASSERT_TRUE(want_every.ok());
  size_t base = graph->outputs().size();
  for (size_t i = base; i < got->size(); ++i) {
    std::string why = CompareValues((*got)[i], (*want_every)[i], {scale});
    if (!why.empty()) {
      ADD_FAILURE() << GetParam() << ": first difference at " << names[i - base]
                    << ": " << why;
      break;
    }
  }

  // Through the default pipeline (fused kernels).
  CompileOptions fused;
  fused.verify_passes = true;
  auto fexe = (*backend)->Compile(*graph, fused);
  ASSERT_TRUE(fexe.ok()) << fexe.status();
  auto fgot = (*fexe)->Run(CloneInputs(*inputs));
  ASSERT_TRUE(fgot.ok()) << fgot.status();
  ASSERT_EQ(fgot->size(), want->size());
  for (size_t i = 0; i < want->size(); ++i) {
    EXPECT_EQ(CompareValues((*fgot)[i], (*want)[i], {scale}), "")
        << GetParam() << " (fused): output " << i;
  }
  EXPECT_LE((*fexe)->stats().num_launches, (*exe)->stats().num_launches);
}

INSTANTIATE_TEST_SUITE_P(All, CapturedGraphsTest,
                         ::testing::Values("creation", "empty_dims", "int_bool",
                                           "layer_norm", "low_precision",
                                           "mlp_bw", "mlp_fw", "pointwise",
                                           "reductions", "softmax",
                                           "transformer_bw", "transformer_fw",
                                           "transformer_prenorm_bw",
                                           "transformer_prenorm_fw", "views"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kiln::backends
