#include "compiler/tools/run_lib.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "compiler/backends/backend.h"
#include "compiler/ir/convert.h"
#include "compiler/ir/text.h"
#include "compiler/runtime/tensor_proto.h"

namespace kiln::tools {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const std::vector<std::string>& AvailableBackends() {
  static const auto* backends = [] {
    auto* names = new std::vector<std::string>{"interpreter"};
    for (const std::string& n : backends::BackendRegistry::Global().Names()) {
      if (n != "interpreter") names->push_back(n);
    }
    return names;
  }();
  return *backends;
}

namespace {

// Compiled executables by backend and graph text, so that batch mode and
// repeated runs of one graph compile it once.
absl::StatusOr<const backends::Executable*> CompiledFor(
    const std::string& backend, const ir::Graph& graph) {
  static std::mutex mu;
  static auto* cache =
      new std::map<std::string, std::unique_ptr<backends::Executable>>();
  std::string key = absl::StrCat(backend, "\n", ir::PrintGraph(graph));
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(key);
  if (it != cache->end()) return it->second.get();
  auto b = backends::CreateBackend(backend);
  if (!b.ok()) return b.status();
  auto exe = (*b)->Compile(graph, backends::CompileOptions());
  if (!exe.ok()) return exe.status();
  if (cache->size() >= 256) cache->clear();
  const backends::Executable* raw = exe->get();
  (*cache)[key] = *std::move(exe);
  return raw;
}

}  // namespace

absl::StatusOr<RunOptions> ParseFlags(const std::vector<std::string>& args) {
  RunOptions o;
  for (const std::string& a : args) {
    auto value = [&](const std::string& flag, std::string* out) {
      std::string prefix = flag + "=";
      if (a.rfind(prefix, 0) != 0) return false;
      *out = a.substr(prefix.size());
      return true;
    };
    if (value("--graph", &o.graph_path) || value("--inputs", &o.inputs_path) ||
        value("--outputs", &o.outputs_path) || value("--backend", &o.backend)) {
      continue;
    }
    if (a == "--print_ir") {
      o.print_ir = true;
      continue;
    }
    if (a == "--print_outputs") {
      o.print_outputs = true;
      continue;
    }
    if (a == "--list_ops") {
      o.list_ops = true;
      continue;
    }
    if (a == "--list_backends") {
      o.list_backends = true;
      continue;
    }
    if (a == "--batch") {
      o.batch = true;
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown flag ", a));
  }
  if (o.graph_path.empty() && !o.list_ops && !o.list_backends && !o.batch) {
    return absl::InvalidArgumentError("--graph is required");
  }
  const std::vector<std::string>& backends = AvailableBackends();
  if (std::find(backends.begin(), backends.end(), o.backend) ==
      backends.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--backend=", o.backend,
        ": unknown backend (available: ", absl::StrJoin(backends, ", "), ")"));
  }
  return o;
}

absl::StatusOr<std::unique_ptr<ir::Graph>> LoadGraph(const std::string& path) {
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  if (EndsWith(path, ".kir")) return ir::ParseGraph(*bytes);
  v1::Graph proto;
  if (!proto.ParseFromString(*bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a serialized kiln.v1.Graph"));
  }
  return ir::GraphFromProto(proto);
}

absl::StatusOr<std::vector<ops::RuntimeValue>> InputsFromRequest(
    const v1::ExecuteRequest& request, const ir::Graph& graph) {
  std::vector<ops::RuntimeValue> out;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const v1::InputValue& in = request.inputs(i);
    std::string path = absl::StrFormat("inputs[%d]", i);
    switch (in.value_case()) {
      case v1::InputValue::kTensor: {
        auto t = rt::TensorFromProto(in.tensor(), path + ".tensor");
        if (!t.ok()) return t.status();
        out.push_back(ops::RuntimeValue::OfTensor(*std::move(t)));
        break;
      }
      case v1::InputValue::kIntValue:
        out.push_back(
            ops::RuntimeValue::OfScalar(rt::Scalar::Int(in.int_value())));
        break;
      case v1::InputValue::kFloatValue:
        out.push_back(
            ops::RuntimeValue::OfScalar(rt::Scalar::Float(in.float_value())));
        break;
      case v1::InputValue::kBoolValue:
        out.push_back(
            ops::RuntimeValue::OfScalar(rt::Scalar::Bool(in.bool_value())));
        break;
      case v1::InputValue::kStringValue:
      case v1::InputValue::kNone:
        out.push_back(ops::RuntimeValue());
        break;
      case v1::InputValue::VALUE_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": value is not set"));
    }
  }
  if (static_cast<int>(out.size()) != graph.num_placeholders()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("inputs: the graph takes %d inputs, got %d",
                        graph.num_placeholders(), out.size()));
  }
  return out;
}

v1::ExecuteResponse OutputsToResponse(
    const std::vector<ops::RuntimeValue>& outputs) {
  v1::ExecuteResponse response;
  for (const ops::RuntimeValue& v : outputs) {
    v1::OutputValue* o = response.add_outputs();
    switch (v.kind) {
      case ops::RuntimeValue::Kind::kTensor:
        rt::TensorToProto(v.tensor, o->mutable_tensor());
        break;
      case ops::RuntimeValue::Kind::kScalar:
        switch (v.scalar.kind) {
          case rt::Scalar::Kind::kInt:
            o->set_int_value(v.scalar.i);
            break;
          case rt::Scalar::Kind::kFloat:
            o->set_float_value(v.scalar.f);
            break;
          case rt::Scalar::Kind::kBool:
            o->set_bool_value(v.scalar.b);
            break;
        }
        break;
      case ops::RuntimeValue::Kind::kNone:
        o->mutable_none();
        break;
    }
  }
  return response;
}

void AddMutations(const ir::Graph& graph,
                  const std::vector<ops::RuntimeValue>& inputs,
                  v1::ExecuteResponse* response) {
  for (int index : ops::MutatedInputs(graph)) {
    v1::InputMutation* m = response->add_mutations();
    m->set_input_index(index);
    rt::TensorToProto(inputs[index].tensor, m->mutable_value());
  }
}

absl::Status RunTool(const RunOptions& options, std::ostream& out) {
  if (options.list_ops) {
    for (const ops::OpDef* op : ops::OpRegistry::Global().All()) {
      out << op->name() << "\t" << ops::OpCategoryName(op->category()) << "\t"
          << op->schema().ToString() << "\n";
    }
  }
  if (options.list_backends) {
    for (const std::string& b : AvailableBackends()) out << b << "\n";
  }
  if (options.list_ops || options.list_backends) return absl::OkStatus();
  auto graph = LoadGraph(options.graph_path);
  if (!graph.ok()) return graph.status();
  if (options.print_ir) out << ir::PrintGraph(**graph);
  v1::ExecuteRequest request;
  if (!options.inputs_path.empty()) {
    auto bytes = ReadFile(options.inputs_path);
    if (!bytes.ok()) return bytes.status();
    if (!request.ParseFromString(*bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          options.inputs_path, ": not a serialized kiln.v1.ExecuteRequest"));
    }
  }
  auto inputs = InputsFromRequest(request, **graph);
  if (!inputs.ok()) return inputs.status();
  auto exe = CompiledFor(options.backend, **graph);
  if (!exe.ok()) return exe.status();
  auto outputs = (*exe)->Run(*inputs);
  if (!outputs.ok()) return outputs.status();
  if (options.print_outputs) {
    for (size_t i = 0; i < outputs->size(); ++i) {
      const ops::RuntimeValue& v = (*outputs)[i];
      out << "output " << i << ": ";
      switch (v.kind) {
        case ops::RuntimeValue::Kind::kTensor:
          out << v.tensor.DebugString();
          break;
        case ops::RuntimeValue::Kind::kScalar:
          out << v.scalar.ToString();
          break;
        case ops::RuntimeValue::Kind::kNone:
          out << "None";
          break;
      }
      out << "\n";
    }
    for (int index : ops::MutatedInputs(**graph)) {
      out << "mutated input " << index << ": "
          << (*inputs)[index].tensor.DebugString() << "\n";
    }
  }
  if (!options.outputs_path.empty()) {
    std::ofstream f(options.outputs_path, std::ios::binary | std::ios::trunc);
    v1::ExecuteResponse response = OutputsToResponse(*outputs);
    AddMutations(**graph, *inputs, &response);
    if (!f || !response.SerializeToOstream(&f)) {
      return absl::InternalError(
          absl::StrCat("cannot write ", options.outputs_path));
    }
  }
  return absl::OkStatus();
}

void RunBatch(std::istream& in, std::ostream& out, std::ostream& log) {
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> args =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (args.empty()) continue;
    absl::StatusOr<RunOptions> options = ParseFlags(args);
    absl::Status st = options.status();
    if (st.ok() && (options->batch || options->list_ops ||
                    options->list_backends || options->graph_path.empty())) {
      st = absl::InvalidArgumentError(
          "a batch line runs one graph: --graph is required, --batch and "
          "--list_* are not allowed");
    }
    if (st.ok()) st = RunTool(*options, log);
    if (st.ok()) {
      out << "ok\n";
    } else {
      out << "error " << absl::StatusCodeToString(st.code()) << ": "
          << absl::StrReplaceAll(st.message(), {{"\n", " "}}) << "\n";
    }
    out.flush();
  }
}

}  // namespace kiln::tools
