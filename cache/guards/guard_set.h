#ifndef KILN_CACHE_GUARDS_GUARD_SET_H_
#define KILN_CACHE_GUARDS_GUARD_SET_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/v1/compiler_service.pb.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cache {

// Bounds on what a GuardContext or CallSignature may contain; beyond them
// Create / ValidateSignature answer RESOURCE_EXHAUSTED.
struct GuardLimits {
  int max_inputs = 10000;  // leaves, subclass inner tensors included
  int max_rank = 64;
  int max_subclass_depth = 16;
  int max_sym_expr_depth = 64;
  int max_shape_guards = 10000;
  int max_metadata_depth = 64;  // nesting of subclass flatten contexts
};

// How to evaluate.
struct EvalOptions {
  // Treat the metadata of subclasses that define `__metadata_guard__` as
  // matching (the client decides those; see MetadataCandidate).
  bool skip_custom_metadata = false;
};

// The guards of one compiled artifact: everything its validity depends on
// beyond the graph (spec/guards.md), built from a GuardContext.
//
// Create validates the context and canonicalizes it as the guards.proto
// header says: symbols are renamed s0, s1, ... by first appearance (walking
// the leaves in placeholder order -- a leaf tensor's sizes, strides, storage
// offset; a SymInt's expression -- so names agree with the graph's canonical
// names; then the subclass wrappers' own metadata and the shape guards),
// Dims canonicalized (bare constants static, storage offset 0 unset), shape
// guards sorted by serialization without duplicates, symbol declarations
// sorted by name, alias groups renumbered 0, 1, ... by first appearance with
// singleton groups cleared, a None flatten context unset. Expressions are
// not simplified. Two contexts that differ only in those respects have the
// same digest; any real difference gives a different digest. Explanations
// and Describe() use the canonical symbol names.
//
// Evaluation binds each symbol to the first concrete value it meets (duck
// sizing: a symbol that appears twice requires equal values), applies the
// 0/1 specialization rule (a dynamic dim requires >= 2), checks declared
// symbol ranges, shape guards, subclass trees, aliasing and global state.
// Details:
//   * A symbol is bound where it first appears *bare* (after normalization)
//     in evaluation order: a size, a stride, a storage offset or a SymInt
//     input. A declared symbol with no bare occurrence is INVALID_ARGUMENT
//     at Create. Compound expressions (`s0 + 1`, `4*s1`) are compared where
//     they stand when their symbols are bound by then, else right after the
//     last input (reported with their own path).
//   * 0/1 specialization applies to every bare-symbol size, whatever the
//     declared range says; symbols bound only by strides, offsets or SymInts
//     take any value their range allows.
//   * The storage offset is always compared (unset means 0 on both sides).
//   * An expression that cannot be evaluated (overflow, division by zero)
//     fails its guard: never a hit.
//   * Order (which failure Explain reports): global state; input count;
//     each input in order (kind; type; subclass inner names and metadata;
//     dtype; device; requires_grad; rank; sizes; strides; storage offset;
//     inner tensors, recursively); deferred compound expressions; aliasing;
//     symbol ranges; shape guards (canonical order).
//
// Thread safety: immutable after Create; every method may be called
// concurrently.
class GuardSet {
 public:
  // INVALID_ARGUMENT naming the field ("guards.inputs[2].tensor.meta.sizes[1]
  // .expr: ..."), RESOURCE_EXHAUSTED past `limits`.
  static absl::StatusOr<std::shared_ptr<const GuardSet>> Create(
      const v1::GuardContext& context, const GuardLimits& limits = {});

  ~GuardSet();

  // Lowercase hex SHA-256 of the canonical context's deterministic
  // serialization (64 characters).
  const std::string& digest() const;
  // The canonical context. Create(canonical()) gives the same digest and
  // the same verdicts (a fixed point): store it and rebuild from it.
  const v1::GuardContext& canonical() const;

  // True when every guard holds for `call`. Allocation-free (pass or fail)
  // for calls of up to 32 symbols, 16 deferred expressions and 64 tensors;
  // the hot path of Lookup (about 0.2 us for a 10-input call, see
  // docs/cache.md). `call` must have passed ValidateSignature (validate once
  // per request, not per entry); an unvalidated call never crashes it, but
  // the verdict is then unspecified.
  bool Check(const v1::CallSignature& call,
             const EvalOptions& options = {}) const;

  // std::nullopt when every guard holds; otherwise the first failing guard
  // in evaluation order, with kind, input index, path, expected and actual
  // values and a sentence (`inputs[0].size(1): expected 4, got 5`;
  // `inputs[1].subclass(CtxSubclassTensor).metadata: expected (3,), got
  // (4,)`; `global.grad_mode: expected true, got false`).
  std::optional<v1::GuardFailure> Explain(
      const v1::CallSignature& call, const EvalOptions& options = {}) const;

  // For a call that fails only because static sizes differ (same types,
  // dtypes, ranks, subclass structure and global state), the dims that
  // differ, per input path: the automatic-dynamic hints. Empty otherwise.
  // Precisely: empty when Check passes or when the global state, the input
  // count, an input's kind, a tensor's type, dtype or rank, or a subclass's
  // inner names differ; otherwise every static size dim whose value differs,
  // one hint per tensor (outer before inner, in walk order). Strides,
  // offsets, requires_grad, devices, metadata, constants and symbolic
  // checks are ignored (strides follow sizes; the rest recompiles anyway).
  std::vector<v1::DynamicDimHint> WobbledDims(
      const v1::CallSignature& call) const;

  // Whether some subclass in the tree defines `__metadata_guard__`.
  bool has_custom_metadata_guard() const;
  // The stored metadata of those subclasses, in walk order, with their
  // paths ("inputs[1]", "inputs[0].subclass(Outer).inner(x)"); unset
  // metadata is returned as an explicit None.
  std::vector<v1::StoredMetadata> CustomMetadata() const;

  // The guards in words, one line each, for people (`kiln show`).
  std::vector<std::string> Describe() const;

  // The number of graph placeholders the context stands for: its leaves
  // (plain tensors, subclass inner tensors that are not subclasses
  // themselves, SymInts and constants). Compile checks it against the graph.
  int placeholder_count() const;
  // The number of top-level inputs (arguments of the compiled function).
  int input_count() const;

 private:
  struct Impl;
  explicit GuardSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Checks that a CallSignature is well formed on its own: concrete sizes and
// strides only, known enums, subclass trees well formed. INVALID_ARGUMENT
// naming the field ("signature.inputs[0].tensor.meta.sizes[1]: ...").
absl::Status ValidateSignature(const v1::CallSignature& call,
                               const GuardLimits& limits = {});

// The validation GuardSet::Create performs, on its own (paths start with
// "guards.").
absl::Status ValidateGuardContext(const v1::GuardContext& context,
                                  const GuardLimits& limits = {});

// A flatten-context value in Python-like form: `(3,)`, `[1, 2]`,
// `{'_constant': 0}`, `None`, `True`, `torch.float32`, `<SymInt>`; null is
// None.
std::string FormatMetadata(const v1::MetadataValue* value);

}  // namespace kiln::cache

#endif  // KILN_CACHE_GUARDS_GUARD_SET_H_
