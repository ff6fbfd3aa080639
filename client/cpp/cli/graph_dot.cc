#include "client/cpp/cli/graph_dot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler/ir/graph.h"
#include "compiler/ir/text.h"
#include "compiler/ops/op_def.h"

namespace kiln::cli {
namespace {

// A DOT string literal's contents.
std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// "aten::add.Tensor" -> "add"; "kiln::fused.default" -> "fused".
std::string ShortOp(const std::string& name) {
  std::string s = name;
  size_t colons = s.find("::");
  if (colons != std::string::npos) s = s.substr(colons + 2);
  size_t dot = s.find('.');
  if (dot != std::string::npos) s = s.substr(0, dot);
  return s;
}

std::string ValueType(const ir::Value& v) {
  if (v.is_tensor()) return v.type().ToString();
  if (v.kind() == ir::Value::Kind::kSymInt) return "SymInt";
  return ir::ScalarKindName(v.scalar_kind());
}

}  // namespace

absl::StatusOr<std::string> GraphTextToDot(std::string_view graph_text,
                                           std::string_view title) {
  absl::StatusOr<std::unique_ptr<ir::Graph>> parsed =
      ir::ParseGraph(graph_text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the entry's graph does not parse: ", parsed.status().message()));
  }
  const ir::Graph& graph = **parsed;
  std::string out = absl::StrCat(
      "digraph kiln {\n"
      "  label=\"",
      Escape(title),
      "\";\n"
      "  labelloc=t;\n"
      "  rankdir=TB;\n"
      "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f3f4f6\", "
      "fontname=\"Helvetica\", fontsize=10];\n"
      "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#6b7280\"];\n");
  // DOT id of the node (or input) that produces each value.
  absl::flat_hash_map<const ir::Value*, std::string> producer;
  int next = 0;
  for (const auto& p : graph.placeholders()) {
    std::string id = absl::StrCat("v", next++);
    producer[p.get()] = id;
    absl::StrAppend(&out, "  ", id,
                    " [shape=ellipse, fillcolor=\"#dbeafe\", "
                    "label=\"%",
                    Escape(p->name()), "\\n", Escape(ValueType(*p)), "\"];\n");
  }
  for (const auto& c : graph.constants()) {
    std::string id = absl::StrCat("v", next++);
    producer[c.get()] = id;
    absl::StrAppend(&out, "  ", id,
                    " [shape=note, fillcolor=\"#e5e7eb\", "
                    "label=\"constant %",
                    Escape(c->name()), "\\n", Escape(ValueType(*c)), "\"];\n");
  }
  for (const auto& node : graph.nodes()) {
    std::string id = absl::StrCat("v", next++);
    std::vector<std::string> types;
    for (int i = 0; i < node->num_outputs(); ++i) {
      producer[node->output(i)] = id;
      types.push_back(ValueType(*node->output(i)));
    }
    std::string label;
    std::string style;
    if (const ir::FusedKernel* k = node->fused(); k != nullptr) {
      std::vector<std::string> ops;
      if (k->body != nullptr) {
        for (const auto& inner : k->body->nodes()) {
          ops.push_back(ShortOp(inner->op().name()));
        }
      }
      label = absl::StrCat("%", node->name(), "\\nfused ",
                           ir::FusionKindName(k->kind), " kernel, ", ops.size(),
                           ops.size() == 1 ? " op\\n" : " ops\\n",
                           Escape(absl::StrJoin(ops, " > ")));
      style = ", fillcolor=\"#fde68a\", penwidth=2";
    } else {
      label = absl::StrCat("%", node->name(), "\\n", Escape(node->op().name()));
    }
    absl::StrAppend(&label, "\\n", Escape(absl::StrJoin(types, ", ")));
    absl::StrAppend(&out, "  ", id, " [label=\"", label, "\"", style, "];\n");
    absl::flat_hash_set<const ir::Value*> drawn;  // one edge per value
    for (const ir::Value* operand : node->Operands()) {
      auto it = producer.find(operand);
      if (it == producer.end() || !drawn.insert(operand).second) continue;
      absl::StrAppend(&out, "  ", it->second, " -> ", id, " [label=\"",
                      Escape(ValueType(*operand)), "\"];\n");
    }
  }
  absl::StrAppend(&out,
                  "  out [shape=ellipse, fillcolor=\"#dcfce7\", "
                  "label=\"return\"];\n");
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    graph.outputs()[i].ForEachValue([&](ir::Value* v) {
      auto it = producer.find(v);
      if (it != producer.end()) {
        absl::StrAppend(&out, "  ", it->second, " -> out [label=\"#", i,
                        "\"];\n");
      }
    });
  }
  out += "}\n";
  return out;
}

absl::Status RenderSvg(const std::string& dot, const std::string& path) {
  int in[2];
  if (pipe(in) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    dup2(in[0], 0);
    close(in[0]);
    close(in[1]);
    std::string out_arg = "-o" + path;
    execlp("dot", "dot", "-Tsvg", out_arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  size_t written = 0;
  while (written < dot.size()) {
    ssize_t n = write(in[1], dot.data() + written, dot.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(in[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return absl::FailedPreconditionError(
        "Graphviz's `dot` was not found; install graphviz (or use --dot and "
        "render it elsewhere)");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("`dot -Tsvg` failed writing '", path, "'"));
  }
  return absl::OkStatus();
}

}  // namespace kiln::cli
