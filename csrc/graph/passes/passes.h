// Graph passes: rewrites of a resolved, sorted graph before its kernels are made. Each pass is
// one file with one job; run_graph_passes runs them in order. They only ever rewrite when the
// result is exact (up to float rounding of folded constants).
#pragma once

namespace fi {

class Graph;

// Constant nodes (dense value forms) become constant values, like initializers.
void fold_constant_nodes(Graph& g);
// Sum becomes Add (two inputs), a chain of Adds (three or more) or nothing (one input).
void rewrite_sum_as_add(Graph& g);
// Chains of Mul/Add/Sub by per-channel constants on float32 NCHW values become one inference
// BatchNormalization (or merge into the BatchNormalization before them).
void fold_channel_affine(Graph& g);
// Conv followed by an inference BatchNormalization with constant parameters: scale and shift
// folded into the Conv's weights and bias; the BatchNormalization node goes away.
void fold_batchnorm_into_conv(Graph& g);
// Conv (float32, constant weights, group 1) followed by an Add of a same-shape residual: the Add
// moves into the Conv's epilogue (the residual becomes the Conv's input 3).
void fuse_residual_add_into_conv(Graph& g);
// Conv/Gemm (float32, constant weights) followed by Relu, or Clip with constant bounds: the clamp
// moves into the producer's epilogue (attributes fi.clamp_min / fi.clamp_max).
void fuse_clamp_activation(Graph& g);
// Conv (float32, constant weights) followed by Sigmoid, Tanh, HardSwish or SiLU (Sigmoid + Mul):
// the activation moves into the Conv (attribute fi.activation).
void fuse_activation_into_conv(Graph& g);
// The multi-head self-attention subgraph that torch.onnx.export writes (head-split reshapes and
// transposes, MatMul, scale, mask Add, Softmax, MatMul, head merge) becomes one
// com.microsoft MultiHeadAttention node on the fused attention kernel.
void fuse_attention(Graph& g);

// Shape/Size of values whose inferred dims are known, and Shape -> Gather/Slice picking known
// dims, become constants (top-level graphs only).
void fold_shape_subgraphs(Graph& g);
// Nodes whose inputs are all constant run once with their own kernel; outputs become constants
// (deterministic ops without subgraphs, when the model does not grow much).
void fold_constants(Graph& g);
// Static type/shape inference run again (after folding); kept as it was if it fails.
void reinfer_types(Graph& g);
// Identity / inference Dropout removed; Transpose pairs composed, Reshape-like chains merged,
// identity Transposes and same-shape Reshapes removed.
void eliminate_transpose_reshape(Graph& g);
// Nodes that reach no graph output removed; data of constants nothing reads released.
void remove_dead_nodes(Graph& g);

// Transformer fusions (one file each, fuse_*.cc; the fused kernels are in ops/contrib/):
// ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul/Add] -> LayerNormalization (ONNX from opset
// 17, else ai.fastinfer).
void fuse_layernorm(Graph& g);
// erf and tanh GELU formulas -> com.microsoft Gelu / FastGelu.
void fuse_gelu(Graph& g);
// MatMul(constant B) -> Add(constant bias) [-> Relu/Sigmoid/Tanh/GELU] -> ai.fastinfer MatMulBias.
void fuse_matmul_bias(Graph& g);
// Add(constant bias) -> GELU -> com.microsoft BiasGelu / FastGelu with bias.
void fuse_bias_gelu(Graph& g);
// Add(x, skip) [+ bias] -> LayerNormalization -> com.microsoft SkipLayerNormalization.
void fuse_skip_layernorm(Graph& g);

// Reshape [N, G, C/G, H, W] -> Transpose (0, 2, 1, 3, 4) -> Reshape [N, C, H, W] (ShuffleNet's
// channel shuffle) -> ai.fastinfer ChannelShuffle.
void fuse_channel_shuffle(Graph& g);

// Regions of float32 2-D Conv and the pooling/elementwise ops after them run channels-last
// (ai.fastinfer Nhwc* ops) with reorders only at the region's edges; FASTINFER_LAYOUT=nchw: off.
void assign_layout(Graph& g);
// Channels-last [pointwise ->] depthwise -> [pointwise] conv chains (MobileNet blocks) become one
// ai.fastinfer NhwcDwBlock that streams rows through L2. After assign_layout.
void fuse_dw_block(Graph& g);
// Channels-last Concats: the convs that make their inputs write into the Concat's buffer instead
// (NhwcConv fi.out_channels / fi.out_offset, chained in place); the rest goes through ConcatInto.
void write_concat_in_place(Graph& g);
// 3x3 stride-1 convs that store Winograd F(4,3) transformed weights (fi.winograd = 1; the others
// 0) under a memory budget (conv.winograd_budget x the model's constant bytes), most tiles first.
void plan_winograd(Graph& g);

void run_graph_passes(Graph& g);

}  // namespace fi
