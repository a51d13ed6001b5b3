// The core graph: values (named tensors) and nodes, imported once from ONNX by the Python layer
// (python/fastinfer/_import.py) and then prepared: names resolved, nodes sorted, kernels made.
// Subgraphs (If/Loop/Scan bodies) are Graphs too; a name a subgraph uses but does not define is
// captured from the enclosing graph and becomes an implicit input of the node that owns it.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "graph/attribute.h"
#include "ops/kernel.h"

namespace fi {

class Executor;
class Graph;
void infer_types(Graph& g);

// A declared type and shape (from graph inputs/outputs/value_info): dims are -1 when unknown;
// dim_params holds the symbolic name where there is one.
struct TypeInfo {
  DataType dtype = DataType::Undefined;
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_params;
};

struct Value {
  std::string name;
  int producer = -1;         // index of the producing node in Graph::nodes, -1 if none
  bool is_input = false;     // a graph input (fed at run time)
  bool is_const = false;     // an initializer: const_value holds it
  bool is_captured = false;  // comes from the enclosing graph (subgraphs only)
  bool is_output = false;    // a graph output
  Tensor const_value;
  TypeInfo info;
  TypeInfo inferred;  // from static inference (graph/shape_inference.h); dims -1 + dim_params for symbols
};

struct Node {
  std::string name, op_type, domain;
  int opset = 0;
  std::vector<std::string> input_names, output_names;  // as written; "" = absent optional
  std::vector<int> inputs, outputs;                    // value ids; -1 = absent
  std::vector<int> implicit_inputs;                    // outer-scope values its subgraphs read
  Attributes attrs;
  std::unique_ptr<OpKernel> kernel;
  // The data layout the node's kernel reads and writes its activations in ("NCHW", "NHWC",
  // "NCHW16c"...), set by layout passes; empty = the ONNX layout of the op.
  std::string layout;

  // "node 'name' (OpType): " for error messages.
  std::string where() const;
};

class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // ---- building (from the importer) ----
  void set_opset(const std::string& domain, int version);
  void add_input(const std::string& name, const TypeInfo& info);
  void add_initializer(const std::string& name, Tensor t);
  void add_output(const std::string& name, const TypeInfo& info);
  void add_value_info(const std::string& name, const TypeInfo& info);
  Node& add_node(const std::string& name, const std::string& op_type, const std::string& domain,
                 const std::vector<std::string>& inputs, const std::vector<std::string>& outputs);
  void set_name(const std::string& n) { name_ = n; }

  // Resolves names, sorts nodes, prepares subgraphs and creates every kernel. Throws
  // NotImplemented listing every unsupported op, or InvalidModel naming the bad node.
  // `parent` is the enclosing graph for subgraphs.
  void prepare(const Graph* parent = nullptr);

  // ---- reading ----
  const std::string& name() const { return name_; }
  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int>& inputs() const { return inputs_; }     // graph inputs (incl. with initializer)
  const std::vector<int>& outputs() const { return outputs_; }
  const std::vector<int>& captured() const { return captured_; } // outer-scope values, in order
  const Value& value(int id) const { return values_[size_t(id)]; }
  int find_value(const std::string& name) const;  // -1 when not defined here
  int opset(const std::string& domain) const;     // 0 when not imported
  const std::map<std::string, int>& opsets() const { return opsets_; }
  const Executor& executor() const { return *executor_; }
  bool prepared() const { return prepared_; }
  // Whether this is a subgraph (an If/Loop/Scan body); known once prepare() has started.
  bool is_subgraph() const { return parent_ != nullptr; }
  // The declared type of a value, completed from the inferred one where the model left it open.
  TypeInfo type_of(int id) const;

  // ---- rewriting (graph passes, between name resolution and kernel creation) ----
  // Whether prepare() runs the optimisation passes (graph/passes/); on by default.
  void set_optimize(bool on) { optimize_ = on; }
  bool optimize() const { return optimize_; }
  // Session configuration entries (ONNX Runtime's add_session_config_entry): string keys and
  // values that kernels read at creation through OpInit::config. Subgraphs see their parent's.
  void set_config_entry(const std::string& key, const std::string& value) { config_[key] = value; }
  // The entry for `key`, looked up here and then in the enclosing graphs; `fallback` if unset.
  std::string config(const std::string& key, const std::string& fallback) const;
  std::vector<Node>& mutable_nodes() { return nodes_; }
  Value& mutable_value(int id) { return values_[size_t(id)]; }
  // A new constant value with a fresh name derived from `hint`; returns its id.
  int add_constant(const std::string& hint, Tensor t);
  // A new non-constant value (a pass's new intermediate) with a fresh name derived from `hint`.
  int add_value(const std::string& hint);
  // Drops the nodes flagged in `dead` (one flag per node) and renumbers producers.
  void remove_nodes(const std::vector<char>& dead);
  // For each value: how many node inputs (explicit and implicit) read it, plus one per graph output.
  std::vector<int> use_counts() const;

 private:
  friend void infer_types(Graph& g);
  int intern(const std::string& name);
  void resolve(const Graph* parent);
  void sort_nodes();
  void create_kernels();
  // Drops constant v's data when all its `uses` are readers that packed it (`packed` of them).
  void release_if_packed(int v, int uses, int packed);

  std::string name_;
  // The next fresh symbol's number: kept across inference runs (passes infer again), so a symbol
  // made in one never names another dimension in the next.
  int symbol_counter_ = 0;
  std::map<std::string, int> opsets_;
  std::vector<Value> values_;
  std::unordered_map<std::string, int> by_name_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_, captured_;
  std::unique_ptr<Executor> executor_;
  bool prepared_ = false;
  bool optimize_ = true;
  std::map<std::string, std::string> config_;
  const Graph* parent_ = nullptr;
};

}  // namespace fi
