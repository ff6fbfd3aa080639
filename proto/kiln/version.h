#ifndef KILN_VERSION_H_
#define KILN_VERSION_H_

// Versions shared by the server, the clients and the wire contract.
namespace kiln {

// The release of the Kiln server and tools (semantic versioning).
inline constexpr char kServerVersion[] = "0.1.0";
// The wire protocol package; changes within it are additive only.
inline constexpr char kProtocolVersion[] = "kiln.v1";
// The code generator's version, part of every target string and cache key:
// bump it whenever generated code changes for the same graph.
inline constexpr int kCompilerVersion = 1;
// The default operator salt, also part of every key; an operator changes it
// (per server) to invalidate every artifact at once.
inline constexpr int kDefaultSalt = 0;

}  // namespace kiln

#endif  // KILN_VERSION_H_
