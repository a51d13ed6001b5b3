// Explicit op registry: each op family has a register_*_ops(OpRegistry&) function, called from
// register_all.cc. An op may register several factories with the opset version each starts at;
// the factory with the largest since_version not above the model's opset is chosen.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/shape_inference.h"
#include "ops/kernel.h"

namespace fi {

using KernelFactory = std::unique_ptr<OpKernel> (*)(const OpInit&);

class OpRegistry {
 public:
  void add(const std::string& domain, const std::string& op_type, int since_version, KernelFactory f);
  void add(const std::string& op_type, int since_version, KernelFactory f) { add("", op_type, since_version, f); }
  // The factory for (domain, op_type) at `opset`, or nullptr.
  KernelFactory find(const std::string& domain, const std::string& op_type, int opset) const;
  // Shape/type inference functions, chosen like factories.
  void add_infer(const std::string& domain, const std::string& op_type, int since_version, InferFn f);
  void add_infer(const std::string& op_type, int since_version, InferFn f) { add_infer("", op_type, since_version, f); }
  InferFn find_infer(const std::string& domain, const std::string& op_type, int opset) const;
  // Every registered (domain, op_type), sorted.
  std::vector<std::pair<std::string, std::string>> list() const;

 private:
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<int, KernelFactory>>> table_;
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<int, InferFn>>> infer_;
};

// The registry with every op, built once.
const OpRegistry& op_registry();

// Normalises "ai.onnx" to "".
std::string canonical_domain(const std::string& d);

// Families; each defined in its own file under ops/.
void register_elementwise_ops(OpRegistry& r);
void register_reduce_ops(OpRegistry& r);
void register_shape_ops(OpRegistry& r);
void register_nn_ops(OpRegistry& r);
void register_pool_ops(OpRegistry& r);
void register_rnn_ops(OpRegistry& r);
void register_control_ops(OpRegistry& r);
void register_quant_ops(OpRegistry& r);
void register_misc_ops(OpRegistry& r);
void register_attention_ops(OpRegistry& r);  // ops/contrib/register_attention.cc (com.microsoft)
void register_contrib_ops(OpRegistry& r);  // com.microsoft and ai.fastinfer fused ops
void register_nhwc_ops(OpRegistry& r);  // ops/nhwc/register.cc: internal channels-last ops (ai.fastinfer)
void register_infer_fns(OpRegistry& r);  // ops/infer/register.cc

// Helper to write a factory for a kernel class constructed from OpInit.
template <class K>
std::unique_ptr<OpKernel> make_kernel(const OpInit& init) {
  return std::make_unique<K>(init);
}

}  // namespace fi
