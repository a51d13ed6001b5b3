// Inference for NN ops: Conv/ConvTranspose and pooling (pads, strides, dilations, auto_pad,
// ceil_mode), Gemm, MatMul (batched broadcasting), Flatten, Einsum (no ellipsis), TopK.
#include <algorithm>
#include <cctype>

#include "ops/infer/infer_util.h"

namespace fi {
namespace {

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string auto_pad;
  bool ceil_mode = false;
};

// Reads the window attributes for `spatial` dims; false when they do not fit (left to the kernel).
bool read_window(const InferContext& ctx, size_t spatial, const std::vector<int64_t>& kernel, Window& w) {
  const Attributes& a = ctx.attrs();
  w.kernel = a.get_ints("kernel_shape", kernel);
  w.strides = a.get_ints("strides", std::vector<int64_t>(spatial, 1));
  w.dilations = a.get_ints("dilations", std::vector<int64_t>(spatial, 1));
  w.pads = a.get_ints("pads", std::vector<int64_t>(2 * spatial, 0));
  w.auto_pad = a.get_string("auto_pad", "NOTSET");
  w.ceil_mode = a.get_int("ceil_mode", 0) != 0;
  if (w.kernel.size() != spatial || w.strides.size() != spatial || w.dilations.size() != spatial ||
      w.pads.size() != 2 * spatial)
    return false;
  const int64_t big = int64_t(1) << 31;
  for (size_t i = 0; i < spatial; ++i)
    if (w.kernel[i] > big || w.strides[i] > big || w.dilations[i] > big || w.pads[i] > big || w.pads[i + spatial] > big)
      return false;
  for (size_t i = 0; i < spatial; ++i)
    if (w.kernel[i] < 1 || w.strides[i] < 1 || w.dilations[i] < 1 || w.pads[i] < 0 || w.pads[i + spatial] < 0)
      return false;
  return true;
}

// Output size of one spatial dim of a convolution or pooling window.
SymDim window_out(InferContext& ctx, const Window& w, size_t i, const SymDim& in) {
  if (!in.known() || in.value > (int64_t(1) << 40)) return ctx.fresh();
  size_t sp = w.kernel.size();
  int64_t n = in.value, s = w.strides[i], dk = (w.kernel[i] - 1) * w.dilations[i] + 1;
  if (w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER") return SymDim::of((n + s - 1) / s);
  int64_t padded = w.auto_pad == "VALID" ? n : n + w.pads[i] + w.pads[i + sp];
  if (padded < dk) return ctx.fresh();  // the kernel reports this at run time
  int64_t out = w.ceil_mode ? (padded - dk + s - 1) / s + 1 : (padded - dk) / s + 1;
  if (w.ceil_mode && w.auto_pad != "VALID" && (out - 1) * s >= n + w.pads[i]) --out;
  return SymDim::of(out);
}

void infer_conv(InferContext& ctx) {
  ValueType x = in_type(ctx, 0), wt = in_type(ctx, 1);
  DataType dt = x.dtype;
  if (!x.shape.has_rank || x.shape.rank() < 3) {
    if (wt.shape.has_rank && wt.shape.rank() >= 3) {
      std::vector<SymDim> dims{ctx.fresh(), wt.shape.dims[0]};
      for (int i = 2; i < wt.shape.rank(); ++i) dims.push_back(ctx.fresh());
      ctx.set_output(0, make_type(dt, dims));
    } else {
      ctx.set_output(0, make_type(dt));
    }
    return;
  }
  size_t sp = size_t(x.shape.rank() - 2);
  int64_t group = ctx.attrs().get_int("group", 1);
  std::vector<int64_t> kernel;
  SymDim m = ctx.fresh();
  if (wt.shape.has_rank) {
    if (size_t(wt.shape.rank()) != sp + 2)
      ctx.fail(str("input ", x.shape.to_string(), " and weight ", wt.shape.to_string(), " have different ranks"));
    m = wt.shape.dims[0];
    const SymDim& c = x.shape.dims[1];
    const SymDim& wc = wt.shape.dims[1];
    if (c.known() && wc.known() && group >= 1 && c.value != wc.value * group)
      ctx.fail(str("input has ", c.value, " channels but the weight ", wt.shape.to_string(), " with group ", group,
                   " expects ", wc.value * group));
    for (size_t i = 0; i < sp; ++i) {
      if (!wt.shape.dims[i + 2].known()) break;
      kernel.push_back(wt.shape.dims[i + 2].value);
    }
  }
  std::vector<SymDim> dims{x.shape.dims[0], m};
  Window w;
  if (!read_window(ctx, sp, kernel, w)) {
    for (size_t i = 0; i < sp; ++i) dims.push_back(ctx.fresh());
  } else {
    for (size_t i = 0; i < sp; ++i) dims.push_back(window_out(ctx, w, i, x.shape.dims[i + 2]));
  }
  ctx.set_output(0, make_type(dt, dims));
}

void infer_conv_integer(InferContext& ctx) {
  infer_conv(ctx);
  ctx.outputs()[0].dtype = DataType::Int32;
}

void infer_conv_transpose(InferContext& ctx) {
  ValueType x = in_type(ctx, 0), wt = in_type(ctx, 1);
  DataType dt = x.dtype;
  if (!x.shape.has_rank || x.shape.rank() < 3 || !wt.shape.has_rank || wt.shape.rank() != x.shape.rank()) {
    ctx.set_output(0, make_type(dt));
    return;
  }
  size_t sp = size_t(x.shape.rank() - 2);
  int64_t group = ctx.attrs().get_int("group", 1);
  std::vector<SymDim> dims{x.shape.dims[0], dim_mul(ctx, wt.shape.dims[1], SymDim::of(std::max<int64_t>(group, 1)))};
  std::vector<int64_t> kernel;
  for (size_t i = 0; i < sp; ++i)
    if (wt.shape.dims[i + 2].known()) kernel.push_back(wt.shape.dims[i + 2].value);
  Window w;
  std::vector<int64_t> out_shape = ctx.attrs().get_ints("output_shape");
  std::vector<int64_t> out_pad = ctx.attrs().get_ints("output_padding", std::vector<int64_t>(sp, 0));
  bool ok = read_window(ctx, sp, kernel, w) && out_pad.size() == sp;
  for (size_t i = 0; i < sp; ++i) {
    const SymDim& in = x.shape.dims[i + 2];
    if (out_shape.size() == sp && out_shape[i] >= 0) {
      dims.push_back(SymDim::of(out_shape[i]));
    } else if (ok && in.known() && in.value < (int64_t(1) << 40) && out_pad[i] >= 0 && out_pad[i] < (int64_t(1) << 31)) {
      int64_t n = in.value, s = w.strides[i];
      int64_t out;
      if (w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER") out = n * s;
      else
        out = s * (n - 1) + out_pad[i] + (w.kernel[i] - 1) * w.dilations[i] + 1 -
              (w.auto_pad == "VALID" ? 0 : w.pads[i] + w.pads[i + sp]);
      dims.push_back(out >= 0 ? SymDim::of(out) : ctx.fresh());
    } else {
      dims.push_back(ctx.fresh());
    }
  }
  ctx.set_output(0, make_type(dt, dims));
}

void infer_pool(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank || x.shape.rank() < 3) {
    ctx.set_output(0, make_type(x.dtype));
    ctx.set_output(1, make_type(DataType::Int64));
    return;
  }
  size_t sp = size_t(x.shape.rank() - 2);
  std::vector<SymDim> dims{x.shape.dims[0], x.shape.dims[1]};
  Window w;
  if (!read_window(ctx, sp, {}, w)) {
    for (size_t i = 0; i < sp; ++i) dims.push_back(ctx.fresh());
  } else {
    for (size_t i = 0; i < sp; ++i) dims.push_back(window_out(ctx, w, i, x.shape.dims[i + 2]));
  }
  ctx.set_output(0, make_type(x.dtype, dims));
  ctx.set_output(1, make_type(DataType::Int64, dims));
}

void infer_global_pool(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank || x.shape.rank() < 2) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  std::vector<SymDim> dims{x.shape.dims[0], x.shape.dims[1]};
  for (int i = 2; i < x.shape.rank(); ++i) dims.push_back(SymDim::of(1));
  ctx.set_output(0, make_type(x.dtype, dims));
}

void check_inner(InferContext& ctx, const SymDim& k1, const SymDim& k2, const SymShape& a, const SymShape& b) {
  if (k1.known() && k2.known() && k1.value != k2.value)
    ctx.fail(str("inner dimensions of ", a.to_string(), " and ", b.to_string(), " differ (", k1.value, " vs ",
                 k2.value, ")"));
}

void infer_gemm(InferContext& ctx) {
  ValueType a = in_type(ctx, 0), b = in_type(ctx, 1);
  bool ta = ctx.attrs().get_int("transA", 0) != 0, tb = ctx.attrs().get_int("transB", 0) != 0;
  if (!a.shape.has_rank || !b.shape.has_rank || a.shape.rank() != 2 || b.shape.rank() != 2) {
    ctx.set_output(0, make_type(a.dtype));
    return;
  }
  const auto& ad = a.shape.dims;
  const auto& bd = b.shape.dims;
  check_inner(ctx, ad[ta ? 0 : 1], bd[tb ? 1 : 0], a.shape, b.shape);
  ctx.set_output(0, make_type(a.dtype, {ad[ta ? 1 : 0], bd[tb ? 0 : 1]}));
}

void matmul_shape(InferContext& ctx, DataType out_dt) {
  ValueType a = in_type(ctx, 0), b = in_type(ctx, 1);
  if (!a.shape.has_rank || !b.shape.has_rank || a.shape.rank() == 0 || b.shape.rank() == 0) {
    ctx.set_output(0, make_type(out_dt));
    return;
  }
  std::vector<SymDim> ad = a.shape.dims, bd = b.shape.dims;
  bool a1 = ad.size() == 1, b1 = bd.size() == 1;
  if (a1) ad.insert(ad.begin(), SymDim::of(1));
  if (b1) bd.push_back(SymDim::of(1));
  check_inner(ctx, ad.back(), bd[bd.size() - 2], a.shape, b.shape);
  SymShape ba(std::vector<SymDim>(ad.begin(), ad.end() - 2)), bb(std::vector<SymDim>(bd.begin(), bd.end() - 2));
  SymShape batch;
  try {
    batch = broadcast_shapes(ctx, ba, bb);
  } catch (const InvalidModel&) {
    ctx.fail(str("batch dimensions of ", a.shape.to_string(), " and ", b.shape.to_string(), " cannot be broadcast"));
  }
  std::vector<SymDim> dims = batch.dims;
  if (!a1) dims.push_back(ad[ad.size() - 2]);
  if (!b1) dims.push_back(bd.back());
  ctx.set_output(0, make_type(out_dt, dims));
}

void infer_matmul(InferContext& ctx) { matmul_shape(ctx, in_dtype(ctx, 0)); }
void infer_matmul_integer(InferContext& ctx) { matmul_shape(ctx, DataType::Int32); }

void infer_flatten(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank) {
    ctx.set_output(0, make_type(x.dtype, {ctx.fresh(), ctx.fresh()}));
    return;
  }
  int64_t r = x.shape.rank();
  int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis < -r || axis > r) ctx.give_up();
  if (axis < 0) axis += r;
  SymDim a = SymDim::of(1), b = SymDim::of(1);
  for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) = dim_mul(ctx, i < axis ? a : b, x.shape.dims[size_t(i)]);
  ctx.set_output(0, make_type(x.dtype, {a, b}));
}

// Einsum without ellipsis: each output letter takes the size its first input gives it.
void infer_einsum(InferContext& ctx) {
  DataType dt = in_dtype(ctx, 0);
  std::string eq;
  for (char c : ctx.attrs().get_string("equation", "")) if (c != ' ') eq += c;
  if (eq.find('.') != std::string::npos) ctx.give_up();
  size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms(1);
  for (char c : lhs) {
    if (c == ',') terms.emplace_back();
    else terms.back() += c;
  }
  if (int(terms.size()) != ctx.num_inputs()) ctx.give_up();
  std::vector<std::pair<char, SymDim>> sizes;
  std::vector<int> count(256, 0);
  for (size_t t = 0; t < terms.size(); ++t) {
    const ValueType* in = ctx.input(int(t));
    if (!in || !in->shape.has_rank || size_t(in->shape.rank()) != terms[t].size()) ctx.give_up();
    for (size_t k = 0; k < terms[t].size(); ++k) {
      char c = terms[t][k];
      if (!std::isalpha(static_cast<unsigned char>(c))) ctx.give_up();
      ++count[size_t(static_cast<unsigned char>(c))];
      const SymDim& d = in->shape.dims[k];
      auto it = std::find_if(sizes.begin(), sizes.end(), [&](const auto& p) { return p.first == c; });
      if (it == sizes.end()) sizes.push_back({c, d});
      else if (!it->second.known() || it->second.is(1)) it->second = d;
    }
  }
  std::string out;
  if (arrow != std::string::npos) {
    out = eq.substr(arrow + 2);
  } else {
    for (int c = 0; c < 256; ++c)
      if (count[size_t(c)] == 1) out += char(c);
  }
  std::vector<SymDim> dims;
  for (char c : out) {
    auto it = std::find_if(sizes.begin(), sizes.end(), [&](const auto& p) { return p.first == c; });
    if (it == sizes.end()) ctx.give_up();
    dims.push_back(it->second);
  }
  ctx.set_output(0, make_type(dt, dims));
}

void infer_topk(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank || x.shape.rank() == 0) {
    ctx.set_output(0, make_type(x.dtype));
    ctx.set_output(1, make_type(DataType::Int64));
    return;
  }
  int64_t axis = norm_axis(ctx, ctx.attrs().get_int("axis", -1), x.shape.rank());
  std::vector<SymDim> dims = x.shape.dims;
  std::vector<int64_t> k;
  if (ctx.opset() < 10) dims[size_t(axis)] = SymDim::of(ctx.attrs().get_int("k", 0));
  else if (ctx.const_ints(1, k) && k.size() == 1 && k[0] >= 0) dims[size_t(axis)] = SymDim::of(k[0]);
  else dims[size_t(axis)] = ctx.fresh();
  ctx.set_output(0, make_type(x.dtype, dims));
  ctx.set_output(1, make_type(DataType::Int64, dims));
}

}  // namespace

void register_nn_infer(OpRegistry& r) {
  r.add_infer("Conv", 1, infer_conv);
  r.add_infer("ConvInteger", 10, infer_conv_integer);
  r.add_infer("ConvTranspose", 1, infer_conv_transpose);
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) r.add_infer(op, 1, infer_pool);
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}) r.add_infer(op, 1, infer_global_pool);
  r.add_infer("Gemm", 1, infer_gemm);
  r.add_infer("MatMul", 1, infer_matmul);
  r.add_infer("MatMulInteger", 10, infer_matmul_integer);
  r.add_infer("Flatten", 1, infer_flatten);
  r.add_infer("Einsum", 12, infer_einsum);
  r.add_infer("TopK", 1, infer_topk);
}

}  // namespace fi
