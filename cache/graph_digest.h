#ifndef KILN_CACHE_GRAPH_DIGEST_H_
#define KILN_CACHE_GRAPH_DIGEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "kiln/v1/graph.pb.h"

namespace kiln::cache {

// The canonical form of a graph, exactly as graph.proto's header defines it:
//   1. placeholders renamed p0, p1, ... and nodes n0, n1, ... by position,
//      every ValueRef rewritten to match;
//   2. symbols renamed s0, s1, ... by first appearance, walking placeholders
//      in order (tensor sizes, then strides, then storage offset; a SymInt
//      placeholder's expression; each expression pre-order), then, for
//      symbols no placeholder mentions, the nodes (args, kwargs by name,
//      outputs) and the graph outputs;
//   3. fields numbered 100 and above cleared, in every message (and unknown
//      fields dropped);
//   4. Dims and `sym` arguments that are bare constants become static ints
//      (a static storage offset of 0 becomes unset); an ArgumentList whose
//      elements are all ints (all floats, all bools) becomes `ints`
//      (`floats`, `bools`); an empty ArgumentList becomes an empty `ints`;
//   5. kwargs sorted by name.
// Nothing else is normalized.
//
// Only what canonicalization itself needs is checked: INVALID_ARGUMENT
// (with the field path) for duplicate or empty names, a ValueRef naming no
// earlier placeholder or node, and duplicate kwarg names. Full validation
// belongs to the compiler's verifier.
absl::StatusOr<v1::Graph> CanonicalizeGraph(const v1::Graph& graph);

// SHA-256 of the canonical graph's deterministic serialization, lowercase
// hex (64 characters): the graph_digest of DESIGN.md's cache keys.
absl::StatusOr<std::string> GraphDigest(const v1::Graph& graph);

}  // namespace kiln::cache

#endif  // KILN_CACHE_GRAPH_DIGEST_H_
