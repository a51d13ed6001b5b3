// What `fastinfer inspect` shows of a prepared graph, after its passes: per node in execution
// order its op, the kernel it runs, its layout, its inferred output types and an estimate of its
// floating-point operations.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace fi {

struct NodeSummary {
  std::string name, op_type, domain;
  std::string kernel;  // the kernel's own description (OpKernel::describe), else the op type
  std::string layout;  // Node::layout, "NCHW"-style default when empty
  std::vector<std::pair<std::string, TypeInfo>> outputs;  // inferred, per named output
  double flops = -1;   // estimate; -1 when the shapes it needs are unknown
};

// FLOPs of node n from the inferred shapes of its inputs and outputs: 2 per multiply-add for
// Conv/ConvTranspose/Gemm/MatMul, the output size for elementwise ops and normalisations, the
// input size for reductions, the output size times the window for pooling, 0 for data movement;
// -1 (unknown) for Einsum, recurrent and attention ops and where shapes are unknown.
double estimate_flops(const Graph& g, const Node& n);

// One summary per node of a prepared graph.
std::vector<NodeSummary> describe_nodes(const Graph& g);

}  // namespace fi
