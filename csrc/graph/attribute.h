// Node attributes as imported from ONNX AttributeProto, with typed getters that throw
// InvalidModel on a missing required attribute or a wrong attribute type.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace fi {

class Graph;

// Numbering of onnx.AttributeProto.AttributeType.
enum class AttrType : int {
  Undefined = 0, Float = 1, Int = 2, String = 3, Tensor = 4, Graph = 5,
  Floats = 6, Ints = 7, Strings = 8, Tensors = 9, Graphs = 10,
};

struct Attribute {
  AttrType type = AttrType::Undefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
};

class Attributes {
 public:
  void set(const std::string& name, Attribute a) { map_[name] = std::move(a); }
  bool has(const std::string& name) const { return map_.count(name) != 0; }
  const Attribute* find(const std::string& name) const;

  int64_t get_int(const std::string& name, int64_t dflt) const;
  float get_float(const std::string& name, float dflt) const;
  std::string get_string(const std::string& name, const std::string& dflt) const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> dflt = {}) const;
  std::vector<float> get_floats(const std::string& name, std::vector<float> dflt = {}) const;
  std::vector<std::string> get_strings(const std::string& name, std::vector<std::string> dflt = {}) const;
  const Tensor* get_tensor(const std::string& name) const;       // nullptr when absent
  std::shared_ptr<Graph> get_graph(const std::string& name) const;  // nullptr when absent

  int64_t require_int(const std::string& name) const;
  float require_float(const std::string& name) const;
  std::string require_string(const std::string& name) const;
  std::vector<int64_t> require_ints(const std::string& name) const;
  std::shared_ptr<Graph> require_graph(const std::string& name) const;

  const std::map<std::string, Attribute>& all() const { return map_; }

 private:
  const Attribute& expect(const std::string& name, AttrType t) const;
  std::map<std::string, Attribute> map_;
};

}  // namespace fi
