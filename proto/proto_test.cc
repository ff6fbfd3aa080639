// Smoke test of the generated kiln.v1 C++ code: a CompileRequest survives a
// serialization round trip, and the services have the rpcs the design lists.

#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "kiln/v1/cache_admin.grpc.pb.h"
#include "kiln/v1/compiler_service.grpc.pb.h"
#include "kiln/v1/graph.pb.h"

namespace kiln::v1 {
namespace {

// A static [2, 3] float32 CPU tensor, contiguous.
TensorMeta Float2x3() {
  TensorMeta meta;
  meta.set_dtype(FLOAT32);
  meta.mutable_device()->set_type(CPU);
  for (int64_t size : {2, 3}) meta.add_sizes()->set_static_size(size);
  for (int64_t stride : {3, 1}) meta.add_strides()->set_static_size(stride);
  return meta;
}

// x + y for two placeholders, as a client would send it.
CompileRequest AddRequest() {
  CompileRequest request;
  Graph* graph = request.mutable_graph();
  for (const char* name : {"x", "y"}) {
    Placeholder* p = graph->add_placeholders();
    p->set_name(name);
    *p->mutable_tensor() = Float2x3();
  }
  Node* add = graph->add_nodes();
  add->set_name("add");
  add->set_target("aten::add.Tensor");
  add->add_args()->mutable_ref()->set_node("x");
  add->add_args()->mutable_ref()->set_node("y");
  NamedArgument* alpha = add->add_kwargs();
  alpha->set_name("alpha");
  alpha->mutable_value()->set_int_value(1);
  *add->add_outputs()->mutable_tensor() = Float2x3();
  ValueRef* out = graph->add_outputs()->mutable_ref();
  out->set_node("add");
  out->set_output_index(0);
  (*graph->mutable_debug())["source"] = "test.py:1";

  GuardContext* guards = request.mutable_guards();
  for (int i = 0; i < 2; ++i) {
    TensorGuard* tensor = guards->add_inputs()->mutable_tensor();
    tensor->set_type_name("torch.Tensor");
    *tensor->mutable_meta() = Float2x3();
  }
  GlobalState* state = guards->mutable_global_state();
  state->set_grad_mode(true);
  state->set_torch_function(GlobalState::ENABLED);
  state->set_default_dtype(FLOAT32);
  state->set_fp32_matmul_precision(GlobalState::HIGHEST);

  request.mutable_target()->set_backend("cpu");
  request.set_client_id("proto_test");
  return request;
}

TEST(ProtoTest, CompileRequestRoundTrips) {
  const CompileRequest request = AddRequest();
  std::string wire;
  ASSERT_TRUE(request.SerializeToString(&wire));

  CompileRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  ASSERT_EQ(parsed.graph().placeholders_size(), 2);
  EXPECT_EQ(parsed.graph().placeholders(1).name(), "y");
  EXPECT_EQ(parsed.graph().placeholders(0).tensor().sizes(1).static_size(), 3);
  ASSERT_EQ(parsed.graph().nodes_size(), 1);
  const Node& add = parsed.graph().nodes(0);
  EXPECT_EQ(add.target(), "aten::add.Tensor");
  ASSERT_EQ(add.args_size(), 2);
  EXPECT_EQ(add.args(1).value_case(), Argument::kRef);
  EXPECT_EQ(add.args(1).ref().node(), "y");
  EXPECT_EQ(add.kwargs(0).value().int_value(), 1);
  EXPECT_EQ(add.outputs(0).tensor().dtype(), FLOAT32);
  EXPECT_EQ(parsed.graph().debug().at("source"), "test.py:1");
  EXPECT_FALSE(parsed.guards().inputs(0).tensor().has_alias_group());
  EXPECT_FALSE(parsed.guards().inputs(0).tensor().has_subclass());
  EXPECT_EQ(parsed.guards().global_state().torch_function(),
            GlobalState::ENABLED);
  EXPECT_EQ(parsed.target().backend(), "cpu");
  EXPECT_EQ(parsed.SerializeAsString(), wire);
}

TEST(ProtoTest, SymExprNests) {
  // Eq(2*s1, s0)
  SymExpr eq;
  eq.set_op(SymExpr::EQ);
  SymExpr* mul = eq.add_operands();
  mul->set_op(SymExpr::MUL);
  mul->add_operands()->set_constant(2);
  mul->mutable_operands(0)->set_op(SymExpr::CONSTANT);
  SymExpr* s1 = mul->add_operands();
  s1->set_op(SymExpr::SYMBOL);
  s1->set_symbol("s1");
  SymExpr* s0 = eq.add_operands();
  s0->set_op(SymExpr::SYMBOL);
  s0->set_symbol("s0");

  SymExpr parsed;
  ASSERT_TRUE(parsed.ParseFromString(eq.SerializeAsString()));
  EXPECT_EQ(parsed.operands(0).operands(1).symbol(), "s1");
  EXPECT_EQ(parsed.operands(0).operands(0).constant(), 2);
}

const google::protobuf::ServiceDescriptor* Service(const char* name) {
  return google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      name);
}

std::vector<std::string> MethodNames(const char* service) {
  const google::protobuf::ServiceDescriptor* descriptor = Service(service);
  std::vector<std::string> names;
  if (descriptor == nullptr) return names;
  for (int i = 0; i < descriptor->method_count(); ++i) {
    names.push_back(descriptor->method(i)->name());
  }
  return names;
}

TEST(ProtoTest, CompilerServiceHasItsRpcs) {
  EXPECT_STREQ(Compiler::service_full_name(), "kiln.v1.Compiler");
  EXPECT_EQ(MethodNames("kiln.v1.Compiler"),
            (std::vector<std::string>{"Compile", "Lookup", "Execute",
                                      "ExecuteStream", "RegisterSharedMemory",
                                      "UnregisterSharedMemory", "GetArtifact",
                                      "Capabilities"}));
  const google::protobuf::MethodDescriptor* stream =
      Service("kiln.v1.Compiler")->FindMethodByName("ExecuteStream");
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(stream->client_streaming());
  EXPECT_TRUE(stream->server_streaming());
}

TEST(ProtoTest, CacheAdminServiceHasItsRpcs) {
  EXPECT_STREQ(CacheAdmin::service_full_name(), "kiln.v1.CacheAdmin");
  EXPECT_EQ(MethodNames("kiln.v1.CacheAdmin"),
            (std::vector<std::string>{"List", "Get", "Stats", "Explain",
                                      "Evict", "Export", "Import"}));
  EXPECT_TRUE(Service("kiln.v1.CacheAdmin")
                  ->FindMethodByName("Export")
                  ->server_streaming());
  EXPECT_TRUE(Service("kiln.v1.CacheAdmin")
                  ->FindMethodByName("Import")
                  ->client_streaming());
}

}  // namespace
}  // namespace kiln::v1
