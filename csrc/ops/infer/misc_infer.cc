// Inference for the recurrent ops (RNN/GRU/LSTM: layout, direction, hidden_size), ops whose
// output has their data's or indices' shape (Scatter*, GatherElements, normalizations),
// NonMaxSuppression, NonZero and com.microsoft MultiHeadAttention (the attention fusion's node) and
// Attention.
#include "ops/infer/infer_util.h"

namespace fi {
namespace {

void infer_rnn(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  DataType dt = x.dtype;
  int64_t hidden = ctx.attrs().get_int("hidden_size", -1);
  std::string dir = ctx.attrs().get_string("direction", "forward");
  int64_t layout = ctx.attrs().get_int("layout", 0);
  if (!x.shape.has_rank || x.shape.rank() != 3 || layout < 0 || layout > 1) {
    for (int i = 0; i < ctx.num_outputs(); ++i) ctx.set_output(i, make_type(dt));
    return;
  }
  SymDim nd = SymDim::of(dir == "bidirectional" ? 2 : 1);
  SymDim h = hidden > 0 ? SymDim::of(hidden) : ctx.fresh();
  const SymDim& seq = x.shape.dims[layout == 0 ? 0 : 1];
  const SymDim& batch = x.shape.dims[layout == 0 ? 1 : 0];
  if (layout == 0) {
    ctx.set_output(0, make_type(dt, {seq, nd, batch, h}));
    ctx.set_output(1, make_type(dt, {nd, batch, h}));
    ctx.set_output(2, make_type(dt, {nd, batch, h}));
  } else {
    ctx.set_output(0, make_type(dt, {batch, seq, nd, h}));
    ctx.set_output(1, make_type(dt, {batch, nd, h}));
    ctx.set_output(2, make_type(dt, {batch, nd, h}));
  }
}

void infer_data_shape(InferContext& ctx) { same_as_input(ctx); }

// Output: data's type with the indices' (input 1) shape.
void infer_gather_elements(InferContext& ctx) {
  ValueType idx = in_type(ctx, 1);
  DataType dt = in_dtype(ctx, 0);
  ctx.set_output(0, idx.shape.has_rank ? make_type(dt, idx.shape.dims) : make_type(dt));
}

void infer_nms(InferContext& ctx) { ctx.set_output(0, make_type(DataType::Int64, {ctx.fresh(), SymDim::of(3)})); }

void infer_nonzero(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (x.shape.has_rank) ctx.set_output(0, make_type(DataType::Int64, {SymDim::of(x.shape.rank()), ctx.fresh()}));
  else ctx.set_output(0, make_type(DataType::Int64));
}

// com.microsoft MultiHeadAttention: [B, S, N*Dv] from query [B, S, N*D] and value [B, L, N*Dv] or
// [B, N, L, Dv] (the kernel checks the rest).
void infer_multi_head_attention(InferContext& ctx) {
  ValueType q = in_type(ctx, 0);
  const ValueType* v = ctx.input(2);
  if (!q.shape.has_rank || q.shape.rank() != 3 || !v || !v->shape.has_rank) ctx.give_up();
  const auto& vd = v->shape.dims;
  SymDim hidden;
  if (vd.size() == 3) hidden = vd[2];
  else if (vd.size() == 4) hidden = dim_mul(ctx, vd[1], vd[3]);
  else ctx.give_up();
  ctx.set_output(0, make_type(q.dtype, {q.shape.dims[0], q.shape.dims[1], hidden}));
}

// com.microsoft Attention: [B, S, Hv] from input [B, S, C] and weights [C, Hq + Hk + Hv], Hv from
// qkv_hidden_sizes or a third of the weights' width (the kernel checks the rest).
void infer_packed_attention(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  const ValueType* w = ctx.input(1);
  if (!x.shape.has_rank || x.shape.rank() != 3) ctx.give_up();
  SymDim hv = ctx.fresh();
  const std::vector<int64_t> sizes = ctx.attrs().get_ints("qkv_hidden_sizes", {});
  if (sizes.size() == 3) hv = SymDim::of(sizes[2]);
  else if (w && w->shape.has_rank && w->shape.rank() == 2 && w->shape.dims[1].known() &&
           w->shape.dims[1].value % 3 == 0)
    hv = SymDim::of(w->shape.dims[1].value / 3);
  ctx.set_output(0, make_type(x.dtype, {x.shape.dims[0], x.shape.dims[1], hv}));
}

}  // namespace

void register_misc_infer(OpRegistry& r) {
  for (const char* op : {"RNN", "GRU", "LSTM"}) r.add_infer(op, 7, infer_rnn);
  for (const char* op : {"ScatterND", "ScatterElements", "Scatter", "GroupNormalization", "RMSNormalization"})
    r.add_infer(op, 1, infer_data_shape);
  r.add_infer("GatherElements", 11, infer_gather_elements);
  r.add_infer("NonMaxSuppression", 10, infer_nms);
  r.add_infer("NonZero", 9, infer_nonzero);
  r.add_infer("com.microsoft", "MultiHeadAttention", 1, infer_multi_head_attention);
  r.add_infer("com.microsoft", "Attention", 1, infer_packed_attention);
}

}  // namespace fi
