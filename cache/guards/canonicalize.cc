// The canonical form of a GuardContext and its digest (guards.proto header):
// symbols renamed s0, s1, ... by first appearance, Dims canonical, alias
// groups renumbered, symbol declarations and shape guards sorted. Nothing
// else is normalized: expressions keep their structure.
#include <openssl/evp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "cache/guards/internal.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cache::guards_internal {
namespace {

// The expressions of one tensor's own metadata: sizes, strides, storage
// offset, each pre-order.
template <typename Fn>
void ForEachMetaExpr(v1::TensorMeta* m, const Fn& fn) {
  for (v1::Dim& d : *m->mutable_sizes()) {
    if (d.has_expr()) fn(d.mutable_expr());
  }
  for (v1::Dim& d : *m->mutable_strides()) {
    if (d.has_expr()) fn(d.mutable_expr());
  }
  if (m->has_storage_offset() && m->storage_offset().has_expr()) {
    fn(m->mutable_storage_offset()->mutable_expr());
  }
}

// Over the tensors of an input tree, pre-order; `wrappers` selects the
// subclass tensors (true) or the leaves (false).
template <typename Fn>
void ForEachTreeExpr(v1::TensorGuard* t, bool wrappers, const Fn& fn) {
  if (!t->has_subclass()) {
    if (!wrappers) ForEachMetaExpr(t->mutable_meta(), fn);
    return;
  }
  if (wrappers) ForEachMetaExpr(t->mutable_meta(), fn);
  for (v1::InnerTensor& inner : *t->mutable_subclass()->mutable_inner()) {
    ForEachTreeExpr(inner.mutable_guard(), wrappers, fn);
  }
}

// Every SymExpr of a context in the naming walk of guards.proto: first the
// leaves in placeholder order (a leaf tensor's sizes, strides and storage
// offset; a SymInt's expression), so that names agree with the graph's
// canonical names; then the rest in field order (the subclass wrappers' own
// metadata, then shape guards).
template <typename Fn>
void ForEachExpr(v1::GuardContext* c, const Fn& fn) {
  for (v1::InputGuard& in : *c->mutable_inputs()) {
    if (in.has_tensor()) ForEachTreeExpr(in.mutable_tensor(), false, fn);
    if (in.has_symint()) fn(in.mutable_symint()->mutable_expr());
  }
  for (v1::InputGuard& in : *c->mutable_inputs()) {
    if (in.has_tensor()) ForEachTreeExpr(in.mutable_tensor(), true, fn);
  }
  for (v1::SymExpr& g : *c->mutable_shape_guards()) fn(&g);
}

// Pre-order over the tensors (outer before inner).
template <typename Fn>
void ForEachTensor(v1::TensorGuard* t, const Fn& fn) {
  fn(t);
  if (t->has_subclass()) {
    for (v1::InnerTensor& inner : *t->mutable_subclass()->mutable_inner()) {
      ForEachTensor(inner.mutable_guard(), fn);
    }
  }
}

template <typename Fn>
void ForEachTensor(v1::GuardContext* c, const Fn& fn) {
  for (v1::InputGuard& in : *c->mutable_inputs()) {
    if (in.has_tensor()) ForEachTensor(in.mutable_tensor(), fn);
  }
}

void FirstAppearance(const v1::SymExpr& e,
                     absl::flat_hash_map<std::string, std::string>* names) {
  if (e.op() == v1::SymExpr::SYMBOL && !names->contains(e.symbol())) {
    names->emplace(e.symbol(), SymbolName(static_cast<int>(names->size())));
  }
  for (const v1::SymExpr& o : e.operands()) FirstAppearance(o, names);
}

void Rename(const absl::flat_hash_map<std::string, std::string>& names,
            v1::SymExpr* e) {
  if (e->op() == v1::SymExpr::SYMBOL) {
    auto it = names.find(e->symbol());
    if (it != names.end()) e->set_symbol(it->second);
  }
  for (v1::SymExpr& o : *e->mutable_operands()) Rename(names, &o);
}

// tensor.proto: a bare-CONSTANT expr is a static value.
void CanonicalDim(v1::Dim* d) {
  if (d->has_expr() && d->expr().op() == v1::SymExpr::CONSTANT) {
    d->set_static_size(d->expr().constant());
  }
}

}  // namespace

v1::GuardContext Canonicalize(const v1::GuardContext& context) {
  v1::GuardContext c = context;

  // Symbols, renamed by first appearance.
  absl::flat_hash_map<std::string, std::string> names;
  ForEachExpr(&c, [&](v1::SymExpr* e) { FirstAppearance(*e, &names); });
  for (const v1::SymbolDecl& d : c.symbols()) {
    if (!names.contains(d.name())) {
      names.emplace(d.name(), SymbolName(static_cast<int>(names.size())));
    }
  }
  ForEachExpr(&c, [&](v1::SymExpr* e) { Rename(names, e); });
  for (v1::SymbolDecl& d : *c.mutable_symbols()) {
    d.set_name(names.at(d.name()));
  }

  // Dims, alias groups and metadata.
  absl::flat_hash_map<int32_t, int> members;
  ForEachTensor(&c, [&](v1::TensorGuard* t) {
    v1::TensorMeta* m = t->mutable_meta();
    for (v1::Dim& d : *m->mutable_sizes()) CanonicalDim(&d);
    for (v1::Dim& d : *m->mutable_strides()) CanonicalDim(&d);
    if (m->has_storage_offset()) {
      CanonicalDim(m->mutable_storage_offset());
      if (m->storage_offset().has_static_size() &&
          m->storage_offset().static_size() == 0) {
        m->clear_storage_offset();
      }
    }
    if (t->has_alias_group()) ++members[t->alias_group()];
    if (t->has_subclass() && t->subclass().has_metadata() &&
        t->subclass().metadata().has_none()) {
      t->mutable_subclass()->clear_metadata();
    }
  });
  absl::flat_hash_map<int32_t, int32_t> groups;
  ForEachTensor(&c, [&](v1::TensorGuard* t) {
    if (!t->has_alias_group()) return;
    if (members[t->alias_group()] < 2) {
      t->clear_alias_group();
      return;
    }
    auto [it, fresh] =
        groups.emplace(t->alias_group(), static_cast<int32_t>(groups.size()));
    t->set_alias_group(it->second);
  });

  // Order-independent parts.
  std::sort(c.mutable_symbols()->begin(), c.mutable_symbols()->end(),
            [](const v1::SymbolDecl& a, const v1::SymbolDecl& b) {
              return a.name() < b.name();
            });
  std::vector<std::pair<std::string, v1::SymExpr>> guards;
  for (const v1::SymExpr& g : c.shape_guards()) {
    guards.emplace_back(SerializeDeterministic(g), g);
  }
  std::sort(guards.begin(), guards.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  guards.erase(std::unique(guards.begin(), guards.end(),
                           [](const auto& a, const auto& b) {
                             return a.first == b.first;
                           }),
               guards.end());
  c.clear_shape_guards();
  for (auto& [bytes, g] : guards) *c.add_shape_guards() = std::move(g);
  return c;
}

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&out);
  }
  return bytes;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[md[i] >> 4];
    hex[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return hex;
}

std::string DigestOf(const v1::GuardContext& canonical) {
  return Sha256Hex(SerializeDeterministic(canonical));
}

}  // namespace kiln::cache::guards_internal
