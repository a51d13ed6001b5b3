#include "ops/registry.h"

#include <algorithm>

namespace fi {

std::string canonical_domain(const std::string& d) { return d == "ai.onnx" ? std::string() : d; }

void OpRegistry::add(const std::string& domain, const std::string& op_type, int since_version,
                     KernelFactory f) {
  auto& v = table_[{canonical_domain(domain), op_type}];
  v.push_back({since_version, f});
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

KernelFactory OpRegistry::find(const std::string& domain, const std::string& op_type, int opset) const {
  auto it = table_.find({canonical_domain(domain), op_type});
  if (it == table_.end()) return nullptr;
  KernelFactory best = nullptr;
  for (const auto& e : it->second)
    if (e.first <= opset) best = e.second;
  return best;
}

void OpRegistry::add_infer(const std::string& domain, const std::string& op_type, int since_version, InferFn f) {
  auto& v = infer_[{canonical_domain(domain), op_type}];
  v.push_back({since_version, f});
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

InferFn OpRegistry::find_infer(const std::string& domain, const std::string& op_type, int opset) const {
  auto it = infer_.find({canonical_domain(domain), op_type});
  if (it == infer_.end()) return nullptr;
  InferFn best = nullptr;
  for (const auto& e : it->second)
    if (e.first <= opset) best = e.second;
  return best;
}

std::vector<std::pair<std::string, std::string>> OpRegistry::list() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : table_) out.push_back(kv.first);
  return out;
}

const OpRegistry& op_registry() {
  static const OpRegistry reg = [] {
    OpRegistry r;
    register_elementwise_ops(r);
    register_reduce_ops(r);
    register_shape_ops(r);
    register_nn_ops(r);
    register_pool_ops(r);
    register_rnn_ops(r);
    register_control_ops(r);
    register_quant_ops(r);
    register_misc_ops(r);
    register_attention_ops(r);
    register_contrib_ops(r);
    register_nhwc_ops(r);
    register_infer_fns(r);
    return r;
  }();
  return reg;
}

}  // namespace fi
