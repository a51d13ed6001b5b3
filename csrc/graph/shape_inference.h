// Static shape and type inference, run once when a graph is prepared.
//
// Each value gets a ValueType: element type, a shape whose dims are known sizes or symbols
// (the model's dim_param names, or fresh "unk__N" symbols for unknown dims; equal symbols mean
// equal sizes), and for small integer tensors (shape arithmetic as torch exports it:
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape) the elements themselves, as SymDims.
// Ops register an InferFn (OpRegistry::add_infer); ops without one give outputs of unknown type
// and shape. An InferFn only fails on a certain contradiction; when unsure it produces unknowns.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "graph/attribute.h"

namespace fi {

class Graph;
struct Node;

struct SymDim {
  int64_t value = -1;  // the size when known (elements of int tensors may be negative)
  std::string sym;     // the symbol when not known; empty when known

  static SymDim of(int64_t v) { SymDim d; d.value = v; return d; }
  static SymDim symbol(std::string s) { SymDim d; d.sym = std::move(s); return d; }
  bool known() const { return sym.empty(); }
  bool is(int64_t v) const { return known() && value == v; }
  bool operator==(const SymDim& o) const { return known() ? value == o.value : (!o.known() && sym == o.sym); }
  bool operator!=(const SymDim& o) const { return !(*this == o); }
  std::string to_string() const { return known() ? std::to_string(value) : sym; }
};

struct SymShape {
  bool has_rank = false;
  std::vector<SymDim> dims;

  SymShape() = default;
  explicit SymShape(std::vector<SymDim> d) : has_rank(true), dims(std::move(d)) {}
  int rank() const { return int(dims.size()); }
  bool fully_known() const;
  int64_t numel() const;  // -1 unless fully known
  std::string to_string() const;  // "[N,3,224]" or "?"
};

struct ValueType {
  DataType dtype = DataType::Undefined;
  SymShape shape;
  std::shared_ptr<const Tensor> value;  // a known constant (initializer, Constant)
  bool has_elems = false;               // elems holds the elements of a small int tensor
  std::vector<SymDim> elems;
};

class ShapeContradiction : public InvalidModel {
 public:
  using InvalidModel::InvalidModel;
};

class InferContext {
 public:
  InferContext(const Node& node, int opset, std::vector<const ValueType*> inputs, int* counter);

  const std::string& op_type() const;
  int opset() const { return opset_; }
  const Attributes& attrs() const;
  int num_inputs() const { return int(inputs_.size()); }
  const ValueType* input(int i) const;  // nullptr for absent optional inputs
  int num_outputs() const { return int(outputs_.size()); }
  void set_output(int i, ValueType t);
  std::vector<ValueType>& outputs() { return outputs_; }

  // A certain contradiction: throws ShapeContradiction (an InvalidModel) naming the node.
  [[noreturn]] void fail(const std::string& reason) const;
  // Not a shape contradiction but something the kernel reports (bad axis, bad attribute):
  // this node's outputs become unknown and inference goes on.
  [[noreturn]] void give_up() const;
  SymDim fresh();                                           // a new unique symbol

  // The elements of input i when it is a known integer tensor of at most `max` elements.
  bool const_ints(int i, std::vector<int64_t>& out, size_t max = 4096) const;
  bool const_floats(int i, std::vector<double>& out, size_t max = 4096) const;
  // The elements of input i as SymDims (rank 0 or 1 int tensors), when known.
  bool sym_elems(int i, std::vector<SymDim>& out) const;

 private:
  const Node& node_;
  int opset_;
  std::vector<const ValueType*> inputs_;
  std::vector<ValueType> outputs_;
  int* counter_;
};

using InferFn = void (*)(InferContext&);

// Runs inference over g's sorted nodes and stores each value's result in Value::inferred.
// Throws InvalidModel naming the node on a contradiction.
void infer_types(Graph& g);

// ---- helpers for infer functions ----
ValueType make_type(DataType dt, std::vector<SymDim> dims);
ValueType make_type(DataType dt);  // unknown shape
// A small int64 tensor with known (symbolic) elements: rank 1, or rank 0 when scalar.
ValueType make_int_elems(std::vector<SymDim> elems, bool scalar, DataType dt = DataType::Int64);
// Numpy broadcasting of two shapes; fails on known mismatches.
SymShape broadcast_shapes(InferContext& ctx, const SymShape& a, const SymShape& b);
// Axis in [-rank, rank) -> [0, rank); gives up when out of range.
int64_t norm_axis(InferContext& ctx, int64_t axis, int64_t rank);
SymDim dim_mul(InferContext& ctx, const SymDim& a, const SymDim& b);
// Overflow-checked int64 arithmetic on model-given sizes: false on overflow.
inline bool add_ok(int64_t a, int64_t b, int64_t* r) { return !__builtin_add_overflow(a, b, r); }
inline bool mul_ok(int64_t a, int64_t b, int64_t* r) { return !__builtin_mul_overflow(a, b, r); }

}  // namespace fi
