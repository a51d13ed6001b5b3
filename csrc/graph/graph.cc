#include "graph/graph.h"

#include <algorithm>
#include <queue>
#include <set>

#include "graph/executor.h"
#include "graph/passes/passes.h"
#include "graph/shape_inference.h"
#include "ops/registry.h"

namespace fi {

std::string Node::where() const { return str("node '", name, "' (", op_type, "): "); }

Graph::Graph() = default;
Graph::~Graph() = default;

void Graph::set_opset(const std::string& domain, int version) { opsets_[canonical_domain(domain)] = version; }

int Graph::opset(const std::string& domain) const {
  auto it = opsets_.find(canonical_domain(domain));
  return it == opsets_.end() ? 0 : it->second;
}

int Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

int Graph::intern(const std::string& name) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return it->second;
  int id = int(values_.size());
  values_.push_back(Value{});
  values_.back().name = name;
  by_name_[name] = id;
  return id;
}

void Graph::add_input(const std::string& name, const TypeInfo& info) {
  int id = intern(name);
  Value& v = values_[size_t(id)];
  if (v.is_input) throw InvalidModel(str("graph input '", name, "' is declared twice"));
  v.is_input = true;
  v.info = info;
  inputs_.push_back(id);
}

void Graph::add_initializer(const std::string& name, Tensor t) {
  int id = intern(name);
  Value& v = values_[size_t(id)];
  if (v.is_const) throw InvalidModel(str("initializer '", name, "' is declared twice"));
  v.is_const = true;
  if (v.info.dtype == DataType::Undefined) v.info.dtype = t.dtype();
  v.const_value = std::move(t);
}

void Graph::add_output(const std::string& name, const TypeInfo& info) {
  int id = intern(name);
  values_[size_t(id)].is_output = true;
  if (values_[size_t(id)].info.dtype == DataType::Undefined || info.dtype != DataType::Undefined)
    values_[size_t(id)].info = info;
  outputs_.push_back(id);
}

void Graph::add_value_info(const std::string& name, const TypeInfo& info) {
  int id = intern(name);
  if (values_[size_t(id)].info.dtype == DataType::Undefined) values_[size_t(id)].info = info;
}

Node& Graph::add_node(const std::string& name, const std::string& op_type, const std::string& domain,
                      const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
  nodes_.emplace_back();
  Node& n = nodes_.back();
  n.name = name.empty() ? str(op_type, "_", nodes_.size() - 1) : name;
  n.op_type = op_type;
  n.domain = canonical_domain(domain);
  n.input_names = inputs;
  n.output_names = outputs;
  return n;
}

void Graph::resolve(const Graph* parent) {
  // Producers first, so node order in the file does not matter.
  for (size_t ni = 0; ni < nodes_.size(); ++ni) {
    Node& n = nodes_[ni];
    n.outputs.assign(n.output_names.size(), -1);
    for (size_t o = 0; o < n.output_names.size(); ++o) {
      const std::string& nm = n.output_names[o];
      int id;
      if (nm.empty()) {
        id = int(values_.size());  // anonymous: not reachable by name
        values_.push_back(Value{});
        values_.back().name = str(n.name, ":", o);
      } else {
        id = intern(nm);
      }
      Value& v = values_[size_t(id)];
      if (v.producer >= 0 || v.is_const || v.is_input)
        throw InvalidModel(str(n.where(), "output '", nm, "' is already defined by another node, an initializer or a graph input"));
      v.producer = int(ni);
      n.outputs[o] = id;
    }
  }
  auto lookup = [&](const std::string& nm, const Node* user) -> int {
    int id = find_value(nm);
    if (id >= 0) {
      const Value& v = values_[size_t(id)];
      if (v.producer >= 0 || v.is_const || v.is_input || v.is_captured) return id;
    }
    if (parent) {
      if (id < 0) id = intern(nm);
      values_[size_t(id)].is_captured = true;
      captured_.push_back(id);
      return id;
    }
    if (user)
      throw InvalidModel(str(user->where(), "input '", nm,
                             "' is not a graph input, an initializer or the output of any node"));
    throw InvalidModel(str("graph output '", nm, "' is not produced by any node"));
  };
  for (Node& n : nodes_) {
    n.inputs.assign(n.input_names.size(), -1);
    for (size_t i = 0; i < n.input_names.size(); ++i)
      if (!n.input_names[i].empty()) n.inputs[i] = lookup(n.input_names[i], &n);
  }
  for (int& o : outputs_) {
    const Value& v = values_[size_t(o)];
    if (!(v.producer >= 0 || v.is_const || v.is_input || v.is_captured)) o = lookup(v.name, nullptr);
  }
  // Subgraphs: prepare them, then make their captures implicit inputs of the owning node.
  for (Node& n : nodes_) {
    std::vector<std::string> implicit;
    auto visit = [&](const std::shared_ptr<Graph>& g) {
      if (!g) return;
      for (const auto& kv : opsets_)
        if (!g->opsets_.count(kv.first)) g->opsets_[kv.first] = kv.second;
      g->optimize_ = optimize_;
      try {
        g->prepare(this);
      } catch (const Error& e) {
        rethrow_with_prefix(e, str(n.where(), "in subgraph: "));
      }
      for (int c : g->captured_) {
        const std::string& nm = g->values_[size_t(c)].name;
        if (std::find(implicit.begin(), implicit.end(), nm) == implicit.end()) implicit.push_back(nm);
      }
    };
    for (const auto& kv : n.attrs.all()) {
      visit(kv.second.g);
      for (const auto& g : kv.second.graphs) visit(g);
    }
    for (const std::string& nm : implicit) n.implicit_inputs.push_back(lookup(nm, &n));
  }
}

void Graph::sort_nodes() {
  size_t n = nodes_.size();
  std::vector<int> indeg(n, 0);
  std::vector<std::vector<int>> users(n);
  for (size_t i = 0; i < n; ++i) {
    std::set<int> deps;
    auto dep = [&](int v) {
      if (v >= 0 && values_[size_t(v)].producer >= 0) deps.insert(values_[size_t(v)].producer);
    };
    for (int v : nodes_[i].inputs) dep(v);
    for (int v : nodes_[i].implicit_inputs) dep(v);
    for (int p : deps) {
      if (p == int(i)) throw InvalidModel(str(nodes_[i].where(), "reads its own output"));
      users[size_t(p)].push_back(int(i));
      ++indeg[i];
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;  // keep file order when free
  for (size_t i = 0; i < n; ++i)
    if (indeg[i] == 0) ready.push(int(i));
  std::vector<int> order;
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int u : users[size_t(i)])
      if (--indeg[size_t(u)] == 0) ready.push(u);
  }
  if (order.size() != n) {
    for (size_t i = 0; i < n; ++i)
      if (indeg[i] > 0) throw InvalidModel(str(nodes_[i].where(), "is part of a cycle"));
  }
  std::vector<int> new_index(n);
  for (size_t k = 0; k < n; ++k) new_index[size_t(order[k])] = int(k);
  std::vector<Node> sorted(n);
  for (size_t k = 0; k < n; ++k) sorted[k] = std::move(nodes_[size_t(order[k])]);
  nodes_ = std::move(sorted);
  for (Value& v : values_)
    if (v.producer >= 0) v.producer = new_index[size_t(v.producer)];
}

void Graph::create_kernels() {
  const OpRegistry& reg = op_registry();
  std::map<std::string, std::vector<std::string>> missing;  // "domain:op" -> node names
  for (Node& n : nodes_) {
    int version = opset(n.domain);
    if (version == 0 && n.domain.empty()) version = 1;
    if (version == 0) {
      missing[str(n.domain, ".", n.op_type, " (domain '", n.domain, "' not imported by the model)")]
          .push_back(n.name);
      continue;
    }
    n.opset = version;
    if (!reg.find(n.domain, n.op_type, version))
      missing[n.domain.empty() ? str(n.op_type, " (opset ", version, ")")
                               : str(n.domain, ".", n.op_type, " (opset ", version, ")")]
          .push_back(n.name);
  }
  if (!missing.empty()) {
    std::string msg = "unsupported operators: ";
    bool first = true;
    for (const auto& kv : missing) {
      if (!first) msg += "; ";
      first = false;
      msg += kv.first + " at node";
      if (kv.second.size() > 1) msg += "s";
      for (size_t i = 0; i < kv.second.size() && i < 5; ++i) msg += (i ? ", '" : " '") + kv.second[i] + "'";
      if (kv.second.size() > 5) msg += str(" and ", kv.second.size() - 5, " more");
    }
    throw NotImplemented(msg);
  }
  // Weights every reader has packed into its own layout would otherwise be held twice: a constant
  // goes (its shape and type stay) as soon as the last of its readers has packed it, so the peak
  // during creation holds each layer's weights twice at most, not the whole model's.
  const std::vector<int> uses = use_counts();
  std::vector<int> unseen(values_.size(), 0), packed(values_.size(), 0);
  for (const Node& n : nodes_)
    for (int v : n.inputs)
      if (v >= 0) ++unseen[size_t(v)];
  for (Node& n : nodes_) {
    KernelFactory f = reg.find(n.domain, n.op_type, n.opset);
    try {
      n.kernel = f(OpInit(n, *this));
    } catch (const Error& e) {
      rethrow_with_prefix(e, n.where());
    } catch (const std::exception& e) {
      throw InvalidModel(n.where() + e.what());
    }
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const int v = n.inputs[i];
      if (v < 0 || !values_[size_t(v)].is_const) continue;
      if (!n.kernel->reads_constant_input(int(i))) ++packed[size_t(v)];
      if (--unseen[size_t(v)] == 0) release_if_packed(v, uses[size_t(v)], packed[size_t(v)]);
    }
  }
}

void Graph::release_if_packed(int v, int uses, int packed) {
  Value& val = values_[size_t(v)];
  if (val.is_input || packed == 0 || packed != uses) return;
  val.const_value = Tensor(val.const_value.dtype(), val.const_value.shape(), nullptr);
}

void Graph::prepare(const Graph* parent) {
  if (prepared_) return;
  parent_ = parent;
  resolve(parent);
  sort_nodes();
  infer_types(*this);  // before the passes, so contradictions name the model's own nodes
  if (optimize_) run_graph_passes(*this);
  create_kernels();
  executor_ = std::make_unique<Executor>(*this);
  prepared_ = true;
}


int Graph::add_constant(const std::string& hint, Tensor t) {
  std::string name = hint;
  for (int k = 1; by_name_.count(name); ++k) name = str(hint, "__", k);
  int id = intern(name);
  Value& v = values_[size_t(id)];
  v.is_const = true;
  v.info.dtype = t.dtype();
  v.const_value = std::move(t);
  return id;
}

int Graph::add_value(const std::string& hint) {
  std::string name = hint;
  for (int k = 1; by_name_.count(name); ++k) name = str(hint, "__", k);
  return intern(name);
}

void Graph::remove_nodes(const std::vector<char>& dead) {
  std::vector<int> new_index(nodes_.size(), -1);
  std::vector<Node> kept;
  kept.reserve(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (dead[i]) continue;
    new_index[i] = int(kept.size());
    kept.push_back(std::move(nodes_[i]));
  }
  nodes_ = std::move(kept);
  for (Value& v : values_) v.producer = -1;
  for (size_t i = 0; i < nodes_.size(); ++i)
    for (int o : nodes_[i].outputs)
      if (o >= 0) values_[size_t(o)].producer = int(i);
}

std::vector<int> Graph::use_counts() const {
  std::vector<int> uses(values_.size(), 0);
  for (const Node& n : nodes_) {
    for (int v : n.inputs)
      if (v >= 0) ++uses[size_t(v)];
    for (int v : n.implicit_inputs) ++uses[size_t(v)];
  }
  for (int o : outputs_) ++uses[size_t(o)];
  return uses;
}

TypeInfo Graph::type_of(int id) const {
  const Value& v = value(id);
  TypeInfo t = v.info;
  if (t.dtype == DataType::Undefined) t.dtype = v.inferred.dtype;
  const TypeInfo& inf = v.inferred;
  bool same_type = inf.dtype == DataType::Undefined || inf.dtype == t.dtype;
  if (!same_type || !inf.has_shape) return t;
  if (!t.has_shape) {
    t.has_shape = true;
    t.dims = inf.dims;
    t.dim_params = inf.dim_params;
  } else if (t.dims.size() == inf.dims.size()) {
    t.dim_params.resize(t.dims.size());
    for (size_t d = 0; d < t.dims.size(); ++d) {
      if (t.dims[d] >= 0 || !t.dim_params[d].empty()) continue;  // declared: keep
      t.dims[d] = inf.dims[d];
      t.dim_params[d] = d < inf.dim_params.size() ? inf.dim_params[d] : std::string();
    }
  }
  return t;
}

std::string Graph::config(const std::string& key, const std::string& fallback) const {
  for (const Graph* g = this; g; g = g->parent_) {
    auto it = g->config_.find(key);
    if (it != g->config_.end()) return it->second;
  }
  return fallback;
}

// ---- OpInit (declared in ops/kernel.h) ----------------------------------------------------------
const std::string& OpInit::op_type() const { return node_.op_type; }
const std::string& OpInit::name() const { return node_.name; }
const Attributes& OpInit::attrs() const { return node_.attrs; }
int OpInit::opset() const { return node_.opset; }
int OpInit::num_inputs() const { return int(node_.inputs.size()); }
int OpInit::num_outputs() const { return int(node_.outputs.size()); }
bool OpInit::has_input(int i) const { return i >= 0 && i < num_inputs() && node_.inputs[size_t(i)] >= 0; }
bool OpInit::has_output(int i) const {
  return i >= 0 && i < num_outputs() && !node_.output_names[size_t(i)].empty();
}
const Tensor* OpInit::constant_input(int i) const {
  if (!has_input(i)) return nullptr;
  const Value& v = graph_.value(node_.inputs[size_t(i)]);
  return v.is_const && !v.is_input ? &v.const_value : nullptr;
}
Tensor OpInit::consumable_constant_input(int i) const {
  if (!constant_input(i)) return Tensor();
  const int id = node_.inputs[size_t(i)];
  const Value& v = graph_.value(id);
  if (v.is_output || v.is_captured || !v.const_value.exclusive_heap()) return Tensor();
  int reads = 0;
  for (const Node& n : graph_.nodes()) {
    for (int x : n.inputs) reads += x == id;
    for (int x : n.implicit_inputs) reads += x == id;
  }
  return reads == 1 ? v.const_value : Tensor();
}
std::string OpInit::config(const std::string& key, const std::string& fallback) const {
  return graph_.config(key, fallback);
}

std::vector<int64_t> OpInit::output_dims(int i) const {
  if (!has_output(i)) return {};
  const Value& v = graph_.value(node_.outputs[size_t(i)]);
  if (v.inferred.has_shape) return v.inferred.dims;
  return v.info.has_shape ? v.info.dims : std::vector<int64_t>{};  // as the model declares it
}

DataType OpInit::input_dtype(int i) const {
  if (!has_input(i)) return DataType::Undefined;
  const Value& v = graph_.value(node_.inputs[size_t(i)]);
  return v.info.dtype != DataType::Undefined ? v.info.dtype : v.inferred.dtype;
}

}  // namespace fi
