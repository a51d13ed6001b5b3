// Graph passes: rewrites of a resolved, sorted graph before its kernels are made. Each pass is
// one file with one job; run_graph_passes runs them in order. They only ever rewrite when the
// result is exact (up to float rounding of folded constants).
#pragma once

namespace fi {

class Graph;

// Constant nodes (dense value forms) become constant values, like initializers.
void fold_constant_nodes(Graph& g);
// Conv followed by an inference BatchNormalization with constant parameters: scale and shift
// folded into the Conv's weights and bias; the BatchNormalization node goes away.
void fold_batchnorm_into_conv(Graph& g);
// Conv (float32, constant weights, group 1) followed by an Add of a same-shape residual: the Add
// moves into the Conv's epilogue (the residual becomes the Conv's input 3).
void fuse_residual_add_into_conv(Graph& g);
// Conv/Gemm (float32, constant weights) followed by Relu, or Clip with constant bounds: the clamp
// moves into the producer's epilogue (attributes fi.clamp_min / fi.clamp_max).
void fuse_clamp_activation(Graph& g);

// Regions of float32 2-D Conv and the pooling/elementwise ops after them run channels-last
// (ai.fastinfer Nhwc* ops) with reorders only at the region's edges; FASTINFER_LAYOUT=nchw: off.
void assign_layout(Graph& g);

void run_graph_passes(Graph& g);

}  // namespace fi
