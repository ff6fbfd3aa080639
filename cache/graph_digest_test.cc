#include "cache/graph_digest.h"

#include <functional>
#include <set>
#include <string>

#include "absl/strings/str_replace.h"
#include "cache/keys.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

using ::testing::HasSubstr;

// x: [s7, 4], y: [s3, 4]; add = x + y; sum over dim 0; returns sum.
constexpr char kGraph[] = R"pb(
  placeholders {
    name: "x"
    tensor {
      dtype: FLOAT32
      device { type: CPU }
      sizes { expr { op: SYMBOL symbol: "s7" } }
      sizes { static_size: 4 }
      strides { static_size: 4 }
      strides { static_size: 1 }
    }
  }
  placeholders {
    name: "y"
    tensor {
      dtype: FLOAT32
      device { type: CPU }
      sizes { expr { op: SYMBOL symbol: "s3" } }
      sizes { static_size: 4 }
      strides { static_size: 4 }
      strides { static_size: 1 }
    }
  }
  nodes {
    name: "add"
    target: "aten::add.Tensor"
    args { ref { node: "x" } }
    args { ref { node: "y" } }
    kwargs {
      name: "alpha"
      value { int_value: 1 }
    }
    outputs {
      tensor {
        dtype: FLOAT32
        device { type: CPU }
        sizes { expr { op: SYMBOL symbol: "s7" } }
        sizes { static_size: 4 }
        strides { static_size: 4 }
        strides { static_size: 1 }
      }
    }
    stack_trace: "model.py:10"
  }
  nodes {
    name: "sum"
    target: "aten::sum.dim_IntList"
    args { ref { node: "add" } }
    args { list { values { int_value: 0 } } }
    kwargs {
      name: "keepdim"
      value { bool_value: false }
    }
    kwargs {
      name: "dtype"
      value { none {} }
    }
    outputs {
      tensor {
        dtype: FLOAT32
        device { type: CPU }
        sizes { static_size: 4 }
        strides { static_size: 1 }
      }
    }
  }
  outputs { ref { node: "sum" } }
  debug { key: "source" value: "model.py:forward" }
)pb";

v1::Graph Parse(const std::string& text) {
  v1::Graph g;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &g)) << text;
  return g;
}

std::string Digest(const std::string& text) {
  absl::StatusOr<std::string> d = GraphDigest(Parse(text));
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : "";
}

// Applies string replacements to the base graph text.
std::string Edit(std::vector<std::pair<std::string, std::string>> edits) {
  std::string text = kGraph;
  for (const auto& [from, to] : edits) {
    EXPECT_NE(text.find(from), std::string::npos) << from;
    text = absl::StrReplaceAll(text, {{from, to}});
  }
  return text;
}

TEST(GraphDigestTest, DigestIsHexSha256) {
  std::string d = Digest(kGraph);
  EXPECT_TRUE(IsHexDigest(d)) << d;
  EXPECT_EQ(d, Digest(kGraph));
}

TEST(GraphDigestTest, CanonicalFormRenamesByPosition) {
  absl::StatusOr<v1::Graph> c = CanonicalizeGraph(Parse(kGraph));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->placeholders(0).name(), "p0");
  EXPECT_EQ(c->placeholders(1).name(), "p1");
  EXPECT_EQ(c->nodes(0).name(), "n0");
  EXPECT_EQ(c->nodes(1).name(), "n1");
  EXPECT_EQ(c->nodes(0).args(1).ref().node(), "p1");
  EXPECT_EQ(c->nodes(1).args(0).ref().node(), "n0");
  EXPECT_EQ(c->outputs(0).ref().node(), "n1");
  // s7 appears first, then s3.
  EXPECT_EQ(c->placeholders(0).tensor().sizes(0).expr().symbol(), "s0");
  EXPECT_EQ(c->placeholders(1).tensor().sizes(0).expr().symbol(), "s1");
  EXPECT_EQ(c->nodes(0).outputs(0).tensor().sizes(0).expr().symbol(), "s0");
  // Debug fields cleared, kwargs sorted, the int list folded into `ints`.
  EXPECT_TRUE(c->debug().empty());
  EXPECT_TRUE(c->nodes(0).stack_trace().empty());
  EXPECT_EQ(c->nodes(1).kwargs(0).name(), "dtype");
  EXPECT_EQ(c->nodes(1).kwargs(1).name(), "keepdim");
  ASSERT_TRUE(c->nodes(1).args(1).has_ints());
  EXPECT_EQ(c->nodes(1).args(1).ints().values(0), 0);
}

TEST(GraphDigestTest, RenamingNodesPlaceholdersAndSymbolsKeepsTheDigest) {
  std::string base = Digest(kGraph);
  EXPECT_EQ(base, Digest(Edit({{"\"x\"", "\"input_a\""},
                               {"\"y\"", "\"input_b\""},
                               {"\"add\"", "\"add_1\""},
                               {"\"sum\"", "\"sum_default\""}})));
  // s7 -> s0 and s3 -> s7 (a swap through the names, not the structure).
  EXPECT_EQ(base, Digest(Edit({{"\"s7\"", "\"tmp\""},
                               {"\"s3\"", "\"s7\""},
                               {"\"tmp\"", "\"s0\""}})));
}

TEST(GraphDigestTest, DebugFieldsAreIgnored) {
  std::string base = Digest(kGraph);
  EXPECT_EQ(base, Digest(Edit({{"model.py:forward", "other.py:other"},
                               {"model.py:10", "elsewhere"}})));
  v1::Graph g = Parse(kGraph);
  g.clear_debug();
  g.mutable_nodes(0)->clear_stack_trace();
  EXPECT_EQ(base, *GraphDigest(g));
}

TEST(GraphDigestTest, ConstantsAreNormalized) {
  std::string base = Digest(kGraph);
  // A bare CONSTANT expression is the static size.
  EXPECT_EQ(base, Digest(Edit({{"sizes { static_size: 4 }\n      strides",
                                "sizes { expr { op: CONSTANT constant: 4 } }\n"
                                "      strides"}})));
  // A static storage offset of 0 is the same as none.
  EXPECT_EQ(base, Digest(Edit({{"strides { static_size: 1 }\n    }\n  }\n  "
                                "placeholders",
                                "strides { static_size: 1 }\n storage_offset { "
                                "static_size: 0 } }\n  }\n  placeholders"}})));
  // A `sym` constant is an int; a list of ints is `ints`.
  EXPECT_EQ(base,
            Digest(Edit({{"values { int_value: 0 }",
                          "values { sym { op: CONSTANT constant: 0 } }"}})));
  EXPECT_EQ(base, Digest(Edit({{"list { values { int_value: 0 } }",
                                "ints { values: 0 }"}})));
  EXPECT_EQ(base,
            Digest(Edit({{"value { int_value: 1 }",
                          "value { sym { op: CONSTANT constant: 1 } }"}})));
  // An empty list is an empty `ints`; floats and bools fold too.
  v1::Argument empty_list;
  empty_list.mutable_list();
  v1::Argument empty_ints;
  empty_ints.mutable_ints();
  v1::Graph a = Parse(kGraph), b = Parse(kGraph);
  *a.mutable_nodes(1)->add_args() = empty_list;
  *b.mutable_nodes(1)->add_args() = empty_ints;
  EXPECT_EQ(*GraphDigest(a), *GraphDigest(b));
  a = Parse(kGraph);
  b = Parse(kGraph);
  v1::Argument* fl = a.mutable_nodes(1)->add_args();
  fl->mutable_list()->add_values()->set_float_value(0.5);
  b.mutable_nodes(1)->add_args()->mutable_floats()->add_values(0.5);
  EXPECT_EQ(*GraphDigest(a), *GraphDigest(b));
  a = Parse(kGraph);
  b = Parse(kGraph);
  a.mutable_nodes(1)->add_args()->mutable_list()->add_values()->set_bool_value(
      true);
  b.mutable_nodes(1)->add_args()->mutable_bools()->add_values(true);
  EXPECT_EQ(*GraphDigest(a), *GraphDigest(b));
}

TEST(GraphDigestTest, KwargOrderIsIgnored) {
  v1::Graph g = Parse(kGraph);
  std::swap(*g.mutable_nodes(1)->mutable_kwargs(0),
            *g.mutable_nodes(1)->mutable_kwargs(1));
  EXPECT_EQ(Digest(kGraph), *GraphDigest(g));
}

TEST(GraphDigestTest, EverySemanticDifferenceChangesTheDigest) {
  std::set<std::string> digests = {Digest(kGraph)};
  std::vector<std::string> variants = {
      Edit({{"aten::add.Tensor", "aten::sub.Tensor"}}),
      Edit({{"value { int_value: 1 }", "value { int_value: 2 }"}}),
      Edit({{"value { bool_value: false }", "value { bool_value: true }"}}),
      Edit({{"values { int_value: 0 }", "values { int_value: 1 }"}}),
      // Operands swapped.
      Edit(
          {{"args { ref { node: \"x\" } }\n    args { ref { node: \"y\" } }",
            "args { ref { node: \"y\" } }\n    args { ref { node: \"x\" } }"}}),
      // Both inputs share one symbol (duck sizing) instead of two.
      Edit({{"\"s3\"", "\"s7\""}}),
      // A dynamic dim made static.
      Edit({{"sizes { expr { op: SYMBOL symbol: \"s3\" } }",
             "sizes { static_size: 3 }"}}),
      Edit({{"dtype: FLOAT32\n      device { type: CPU }\n      sizes { expr "
             "{ op: SYMBOL symbol: \"s3\"",
             "dtype: FLOAT16\n      device { type: CPU }\n      sizes { expr "
             "{ op: SYMBOL symbol: \"s3\""}}),
      // A kwarg turned positional.
      Edit({{"kwargs {\n      name: \"alpha\"\n      value { int_value: 1 }\n"
             "    }",
             "args { int_value: 1 }"}}),
      // The output's index.
      Edit({{"outputs { ref { node: \"sum\" } }",
             "outputs { ref { node: \"sum\" output_index: 1 } }"}}),
      // An extra output.
      Edit({{"outputs { ref { node: \"sum\" } }",
             "outputs { ref { node: \"sum\" } }\n outputs { none {} }"}}),
      Edit({{"strides { static_size: 4 }\n      strides { static_size: 1 }\n  "
             "  }\n  }\n  placeholders",
             "strides { static_size: 1 }\n      strides { static_size: 4 }\n  "
             "  }\n  }\n  placeholders"}}),
  };
  for (const std::string& v : variants) {
    EXPECT_TRUE(digests.insert(Digest(v)).second) << v;
  }
  // 0.0 and -0.0 differ (hashed by their bits).
  v1::Graph a = Parse(kGraph), b = Parse(kGraph);
  a.mutable_nodes(1)->add_args()->set_float_value(0.0);
  b.mutable_nodes(1)->add_args()->set_float_value(-0.0);
  EXPECT_NE(*GraphDigest(a), *GraphDigest(b));
}

TEST(GraphDigestTest, TensorConstantsAreNamedByPosition) {
  // mul(x, w) with w a tensor constant (an FX get_attr).
  constexpr char kWithConstant[] = R"pb(
    placeholders {
      name: "x"
      tensor {
        dtype: FLOAT32
        device { type: CPU }
        sizes { static_size: 2 }
        strides { static_size: 1 }
      }
    }
    constants {
      name: "_param_constant0"
      value {
        dtype: FLOAT32
        device { type: CPU }
        sizes: 2
        strides: 1
        raw: "\000\000\200?\000\000\000@"
      }
    }
    nodes {
      name: "mul"
      target: "aten::mul.Tensor"
      args { ref { node: "x" } }
      args { ref { node: "_param_constant0" } }
    }
    outputs { ref { node: "mul" } }
  )pb";
  absl::StatusOr<v1::Graph> c = CanonicalizeGraph(Parse(kWithConstant));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->constants(0).name(), "c0");
  EXPECT_EQ(c->nodes(0).args(1).ref().node(), "c0");
  // The constant's name does not matter; its value does.
  std::string text = kWithConstant;
  EXPECT_EQ(Digest(text), Digest(absl::StrReplaceAll(
                              text, {{"_param_constant0", "weight"}})));
  EXPECT_NE(Digest(text),
            Digest(absl::StrReplaceAll(text, {{"\\200?", "\\300?"}})));
  // Constants share the namespace of placeholders and nodes.
  absl::StatusOr<v1::Graph> clash = CanonicalizeGraph(
      Parse(absl::StrReplaceAll(text, {{"_param_constant0", "x"}})));
  EXPECT_THAT(clash.status().message(),
              HasSubstr("graph.constants[0].name: duplicate name 'x'"));
}

TEST(GraphDigestTest, RejectsWhatCannotBeCanonicalized) {
  auto code_and_message = [](const std::string& text) {
    absl::StatusOr<std::string> d = GraphDigest(Parse(text));
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << text;
    return std::string(d.status().message());
  };
  EXPECT_THAT(code_and_message(Edit({{"ref { node: \"add\" }",
                                      "ref { node: "
                                      "\"nope\" }"}})),
              HasSubstr("graph.nodes[1].args[0].ref.node: 'nope'"));
  EXPECT_THAT(code_and_message(Edit({{"\"y\"", "\"x\""}})),
              HasSubstr("graph.placeholders[1].name: duplicate name 'x'"));
  EXPECT_THAT(code_and_message(Edit({{"\"keepdim\"", "\"dtype\""}})),
              HasSubstr("graph.nodes[1].kwargs: duplicate name 'dtype'"));
  // A node may not consume itself.
  EXPECT_THAT(code_and_message(Edit({{"ref { node: \"add\" }",
                                      "ref { node: "
                                      "\"sum\" }"}})),
              HasSubstr("graph.nodes[1].args[0].ref.node: 'sum'"));
  EXPECT_THAT(code_and_message(Edit({{"name: \"sum\"", "name: \"\""},
                                     {"ref { node: \"sum\" }", "none {}"}})),
              HasSubstr("graph.nodes[1].name: name must not be empty"));
}

}  // namespace
}  // namespace kiln::cache
