#ifndef KILN_CLIENT_CPP_CLI_GRAPH_DOT_H_
#define KILN_CLIENT_CPP_CLI_GRAPH_DOT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::cli {

// A graph in the compiler's IR text form (GetResponse.graph_text or
// optimized_graph_text) drawn as a Graphviz DOT digraph: inputs as
// ellipses, constants as notes, each node as a box with its op and output
// type, each fused kernel (kiln::fused) as one highlighted box naming its
// kind and the ops of its body, edges labelled with the tensor types that
// flow along them, and the graph's outputs. `title` labels the drawing.
// INVALID_ARGUMENT when the text does not parse.
absl::StatusOr<std::string> GraphTextToDot(std::string_view graph_text,
                                           std::string_view title);

// Runs Graphviz (`dot -Tsvg`) on `dot` and writes the SVG to `path`.
// FAILED_PRECONDITION when `dot` is not installed or fails.
absl::Status RenderSvg(const std::string& dot, const std::string& path);

}  // namespace kiln::cli

#endif  // KILN_CLIENT_CPP_CLI_GRAPH_DOT_H_
