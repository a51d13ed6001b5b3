#include "graph/attribute.h"

#include "core/error.h"

namespace fi {

namespace {
const char* attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::Float: return "float";
    case AttrType::Int: return "int";
    case AttrType::String: return "string";
    case AttrType::Tensor: return "tensor";
    case AttrType::Graph: return "graph";
    case AttrType::Floats: return "floats";
    case AttrType::Ints: return "ints";
    case AttrType::Strings: return "strings";
    case AttrType::Tensors: return "tensors";
    case AttrType::Graphs: return "graphs";
    default: return "undefined";
  }
}
}  // namespace

const Attribute* Attributes::find(const std::string& name) const {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : &it->second;
}

const Attribute& Attributes::expect(const std::string& name, AttrType t) const {
  const Attribute* a = find(name);
  if (!a) throw InvalidModel(str("required attribute '", name, "' is missing"));
  if (a->type != t)
    throw InvalidModel(str("attribute '", name, "' should be of type ", attr_type_name(t), ", got ",
                           attr_type_name(a->type)));
  return *a;
}

int64_t Attributes::get_int(const std::string& name, int64_t dflt) const {
  return has(name) ? expect(name, AttrType::Int).i : dflt;
}
float Attributes::get_float(const std::string& name, float dflt) const {
  if (!has(name)) return dflt;
  const Attribute* a = find(name);
  if (a->type == AttrType::Int) return float(a->i);  // some exporters write integral floats as ints
  return expect(name, AttrType::Float).f;
}
std::string Attributes::get_string(const std::string& name, const std::string& dflt) const {
  return has(name) ? expect(name, AttrType::String).s : dflt;
}
std::vector<int64_t> Attributes::get_ints(const std::string& name, std::vector<int64_t> dflt) const {
  return has(name) ? expect(name, AttrType::Ints).ints : dflt;
}
std::vector<float> Attributes::get_floats(const std::string& name, std::vector<float> dflt) const {
  return has(name) ? expect(name, AttrType::Floats).floats : dflt;
}
std::vector<std::string> Attributes::get_strings(const std::string& name,
                                                 std::vector<std::string> dflt) const {
  return has(name) ? expect(name, AttrType::Strings).strings : dflt;
}
const Tensor* Attributes::get_tensor(const std::string& name) const {
  return has(name) ? &expect(name, AttrType::Tensor).t : nullptr;
}
std::shared_ptr<Graph> Attributes::get_graph(const std::string& name) const {
  return has(name) ? expect(name, AttrType::Graph).g : nullptr;
}
int64_t Attributes::require_int(const std::string& name) const { return expect(name, AttrType::Int).i; }
float Attributes::require_float(const std::string& name) const { return expect(name, AttrType::Float).f; }
std::string Attributes::require_string(const std::string& name) const {
  return expect(name, AttrType::String).s;
}
std::vector<int64_t> Attributes::require_ints(const std::string& name) const {
  return expect(name, AttrType::Ints).ints;
}
std::shared_ptr<Graph> Attributes::require_graph(const std::string& name) const {
  return expect(name, AttrType::Graph).g;
}

}  // namespace fi
