// Concat (inputs joined along an axis), ai.fastinfer ConcatInto (the part of a Concat its inputs'
// producers did not write in place) and Split (one input cut along an axis). They copy
// contiguous blocks: with outer = prod(dims before axis), each input/output contributes one
// block of dim_axis * inner elements per outer index.
#include <algorithm>
#include <cstring>
#include <string>

#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// One block stream: for each outer index o, `len` elements go from src + o*src_row to
// dst + o*dst_row (element strides).
struct BlockCopy {
  const void* src;
  int64_t src_row;
  void* dst;
  int64_t dst_row;
  int64_t len;
};

// n bytes from s to d: short runs (a few channels of one pixel, as channels-last Concat and Split
// move them) in inline 16-byte moves rather than a library call each (YOLOv8n's NHWC Concat of
// 160x160 pixels: 0.31 -> 0.27 ms, Zen 4).
inline void copy_bytes(unsigned char* d, const unsigned char* s, size_t n) {
  if (n >= 256) {
    std::memcpy(d, s, n);
    return;
  }
  size_t i = 0;
  for (; i + 16 <= n; i += 16) std::memcpy(d + i, s + i, 16);
  for (; i < n; ++i) d[i] = s[i];
}

// Outer indices [b, e) of the block copies, elements of es bytes (not strings).
void copy_block_rows(size_t es, const std::vector<BlockCopy>& parts, int64_t b, int64_t e) {
  for (int64_t o = b; o < e; ++o)
    for (const auto& p : parts)
      copy_bytes(static_cast<unsigned char*>(p.dst) + size_t(o * p.dst_row) * es,
                 static_cast<const unsigned char*>(p.src) + size_t(o * p.src_row) * es, size_t(p.len) * es);
}

// Elements the copies move per outer index.
int64_t elements_per_outer(const std::vector<BlockCopy>& parts) {
  int64_t total = 0;
  for (const auto& p : parts) total += p.len;
  return total;
}

void run_block_copies(ThreadPool* pool, DataType dt, int64_t outer, const std::vector<BlockCopy>& parts) {
  const int64_t total = elements_per_outer(parts);
  if (total == 0 || outer == 0) return;
  if (dt == DataType::String) {
    parallel_for(pool, outer, copy_grain(total * int64_t(sizeof(std::string))), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (const auto& p : parts) {
          const std::string* s = static_cast<const std::string*>(p.src) + o * p.src_row;
          std::copy(s, s + p.len, static_cast<std::string*>(p.dst) + o * p.dst_row);
        }
    });
    return;
  }
  const size_t es = dtype_size(dt);
  FI_CHECK(es > 0, NotImplemented, "copy: element type ", dtype_name(dt), " is not supported");
  parallel_for(pool, outer, copy_grain(total * int64_t(es)),
               [&](int64_t b, int64_t e) { copy_block_rows(es, parts, b, e); });
}

// The block copies as a phase of the executor's chained job (at 2+ threads; not strings), after
// a phase that copies `pre_bytes` from pre_src to pre_dst when pre_bytes > 0: a channels-last
// Concat between convs no longer ends their job (DenseNet-121 and YOLOv8n at batch 1, 2 threads).
bool defer_block_copies(DataType dt, int64_t outer, std::vector<BlockCopy> parts,
                        DeferredWork& work, const void* pre_src = nullptr, void* pre_dst = nullptr,
                        int64_t pre_bytes = 0) {
  const size_t es = dtype_size(dt);
  if (dt == DataType::String || es == 0) return false;
  const int64_t total = elements_per_outer(parts);
  work.phases = 0;
  if (pre_bytes > 0) {
    work.n[0] = pre_bytes;
    work.grain[0] = deferred_grain(pre_bytes, kParallelCopyChunkBytes, pre_bytes);
    work.phases = 1;
  }
  const int rows_phase = work.phases;
  if (total > 0 && outer > 0) {
    work.n[rows_phase] = outer;
    work.grain[rows_phase] = deferred_grain(outer, copy_grain(total * int64_t(es)), outer * total * int64_t(es));
    work.phases = rows_phase + 1;
  }
  const auto* src = static_cast<const unsigned char*>(pre_src);
  auto* dst = static_cast<unsigned char*>(pre_dst);
  work.fn = [es, parts = std::move(parts), src, dst, rows_phase](int phase, int, int64_t b, int64_t e) {
    if (phase < rows_phase) std::memcpy(dst + b, src + b, size_t(e - b));
    else copy_block_rows(es, parts, b, e);
  };
  return true;
}

// Concat: y = inputs joined along `axis`; other dims must agree.
class ConcatKernel : public OpKernel {
 public:
  explicit ConcatKernel(const OpInit& init) : axis_(init.attrs().require_int("axis")) {}
  void compute(KernelContext& ctx) const override {
    std::vector<BlockCopy> parts;
    const int64_t outer = plan(ctx, parts);
    run_block_copies(ctx.pool(), ctx.in(0).dtype(), outer, parts);
  }
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    if (!ctx.pool() || ctx.pool()->num_threads() < 2 || ctx.in(0).dtype() == DataType::String) return false;
    std::vector<BlockCopy> parts;
    const int64_t outer = plan(ctx, parts);
    return defer_block_copies(ctx.in(0).dtype(), outer, std::move(parts), work);
  }

 private:
  // Checks the inputs, takes the output and lists the copies; returns the outer count.
  int64_t plan(KernelContext& ctx, std::vector<BlockCopy>& parts) const {
    const Tensor& x0 = ctx.in(0);
    const int r = x0.rank();
    FI_CHECK(r > 0, InvalidArgument, "Concat needs tensors of rank >= 1");
    int64_t a = normalize_axis(axis_, r);
    Shape out = x0.shape();
    out[size_t(a)] = 0;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& x = ctx.in(i);
      FI_CHECK(x.dtype() == x0.dtype(), InvalidArgument, "input ", i, " has type ", dtype_name(x.dtype()),
               ", input 0 ", dtype_name(x0.dtype()));
      FI_CHECK(x.rank() == r, InvalidArgument, "input ", i, " has shape ", x.shape().str(), ", input 0 ",
               x0.shape().str());
      for (int k = 0; k < r; ++k)
        FI_CHECK(k == a || x.dim(k) == x0.dim(k), InvalidArgument, "input ", i, " has shape ", x.shape().str(),
                 ", input 0 ", x0.shape().str(), " (axis ", a, ")");
      out[size_t(a)] += x.dim(int(a));
    }
    Tensor& y = ctx.output(0, x0.dtype(), out);
    int64_t outer = out.prod(0, int(a)), inner = out.prod(int(a) + 1, r);
    int64_t row = out[size_t(a)] * inner, off = 0;
    size_t es = x0.dtype() == DataType::String ? sizeof(std::string) : dtype_size(x0.dtype());
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& x = ctx.in(i);
      int64_t len = x.dim(int(a)) * inner;
      parts.push_back({x.raw(), len, static_cast<char*>(y.raw()) + size_t(off) * es, row, len});
      off += len;
    }
    return outer;
  }

  int64_t axis_;
};

// ai.fastinfer ConcatInto (made by the graph pass concat_in_place): the rest of a Concat whose other
// inputs their producers wrote straight into its buffer. Inputs B (that buffer, the Concat's full
// shape), then X_1..X_k; attributes axis and offsets (X_i's first index along axis in B). Y = B
// with X_i copied into [offsets[i], offsets[i] + X_i.dim(axis)); Y takes B's memory when B dies
// here, else B is copied first.
class ConcatIntoKernel : public OpKernel {
 public:
  explicit ConcatIntoKernel(const OpInit& init)
      : axis_(init.attrs().require_int("axis")), offsets_(init.attrs().get_ints("offsets")) {
    FI_CHECK(int(offsets_.size()) == init.num_inputs() - 1, InvalidModel, "ConcatInto: ", offsets_.size(),
             " offsets for ", init.num_inputs() - 1, " inputs after the buffer");
  }
  int inplace_input() const override { return 0; }
  void compute(KernelContext& ctx) const override {
    std::vector<BlockCopy> parts;
    int64_t outer = 0;
    const Tensor& b = ctx.in(0);
    Tensor& y = plan(ctx, parts, outer);
    if (y.raw() != b.raw()) std::memcpy(y.raw(), b.raw(), b.nbytes());
    run_block_copies(ctx.pool(), b.dtype(), outer, parts);
  }
  // At 2+ threads: B's copy (when Y does not take B's memory) and then the inputs' blocks as
  // phases of the executor's chained job.
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    if (!ctx.pool() || ctx.pool()->num_threads() < 2) return false;
    std::vector<BlockCopy> parts;
    int64_t outer = 0;
    const Tensor& b = ctx.in(0);
    Tensor& y = plan(ctx, parts, outer);
    const bool copy_b = y.raw() != b.raw();
    return defer_block_copies(b.dtype(), outer, std::move(parts), work, b.raw(), y.raw(),
                              copy_b ? int64_t(b.nbytes()) : 0);
  }

 private:
  // Checks the inputs, takes Y and lists the inputs' block copies into it (outer: their count).
  Tensor& plan(KernelContext& ctx, std::vector<BlockCopy>& parts, int64_t& outer) const {
    const Tensor& b = ctx.in(0);
    const int r = b.rank();
    FI_CHECK(r > 0, InvalidArgument, "ConcatInto needs tensors of rank >= 1");
    FI_CHECK(b.dtype() != DataType::String, NotImplemented, "ConcatInto: string tensors");
    const int64_t a = normalize_axis(axis_, r);
    for (int i = 1; i < ctx.num_inputs(); ++i) {
      const Tensor& x = ctx.in(i);
      const int64_t off = offsets_[size_t(i - 1)];
      FI_CHECK(x.dtype() == b.dtype() && x.rank() == r, InvalidArgument, "ConcatInto: input ", i, " is ",
               dtype_name(x.dtype()), " ", x.shape().str(), ", the buffer ", dtype_name(b.dtype()), " ",
               b.shape().str());
      for (int k = 0; k < r; ++k)
        FI_CHECK(k == a ? off >= 0 && off + x.dim(k) <= b.dim(k) : x.dim(k) == b.dim(k), InvalidArgument,
                 "ConcatInto: input ", i, " of shape ", x.shape().str(), " at offset ", off,
                 " does not fit the buffer ", b.shape().str(), " (axis ", a, ")");
    }
    Tensor& y = ctx.output(0, b.dtype(), b.shape());
    const size_t es = dtype_size(b.dtype());
    outer = b.shape().prod(0, int(a));
    const int64_t inner = b.shape().prod(int(a) + 1, r);
    for (int i = 1; i < ctx.num_inputs(); ++i) {
      const Tensor& x = ctx.in(i);
      const int64_t len = x.dim(int(a)) * inner;
      parts.push_back({x.raw(), len, static_cast<char*>(y.raw()) + size_t(offsets_[size_t(i - 1)] * inner) * es,
                       b.dim(int(a)) * inner, len});
    }
    return y;
  }

  int64_t axis_;
  std::vector<int64_t> offsets_;
};

// Split: outputs are consecutive pieces of the input along `axis`; sizes from the `split`
// attribute (< 13) or input (>= 13), else equal pieces (num_outputs from 18: last may be smaller).
class SplitKernel : public OpKernel {
 public:
  explicit SplitKernel(const OpInit& init)
      : axis_(init.attrs().get_int("axis", 0)), split_from_input_(init.opset() >= 13) {
    if (!split_from_input_ && init.attrs().has("split")) split_ = init.attrs().get_ints("split");
    split_is_constant_ = split_from_input_ && init.constant_input(1) != nullptr;
    if (init.opset() >= 18 && init.attrs().has("num_outputs")) {
      num_outputs_ = init.attrs().require_int("num_outputs");
      FI_CHECK(num_outputs_ == init.num_outputs(), InvalidModel, "num_outputs ", num_outputs_, " but the node has ",
               init.num_outputs(), " outputs");
    }
  }
  void compute(KernelContext& ctx) const override {
    std::vector<BlockCopy> parts;
    const int64_t outer = plan(ctx, parts);
    run_block_copies(ctx.pool(), ctx.in(0).dtype(), outer, parts);
  }
  // At 2+ threads the copies go to the executor's chained job (YOLOv8n's channels-last Splits
  // between convs), unless the sizes come from a tensor that is not a constant (read in plan).
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    if (!ctx.pool() || ctx.pool()->num_threads() < 2 || ctx.in(0).dtype() == DataType::String ||
        (split_from_input_ && ctx.input(1) && !split_is_constant_))
      return false;
    std::vector<BlockCopy> parts;
    const int64_t outer = plan(ctx, parts);
    return defer_block_copies(ctx.in(0).dtype(), outer, std::move(parts), work);
  }

 private:
  // Checks the input and the sizes, takes the outputs and lists the copies; returns the outer count.
  int64_t plan(KernelContext& ctx, std::vector<BlockCopy>& parts) const {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() > 0, InvalidArgument, "Split needs a tensor of rank >= 1");
    int64_t a = normalize_axis(axis_, x.rank());
    const int64_t dim = x.dim(int(a));
    const int nout = ctx.num_outputs();
    std::vector<int64_t> split = split_;
    if (split_from_input_ && ctx.input(1)) split = read_indices(*ctx.input(1), "split");
    if (split.empty()) {
      if (num_outputs_ > 0) {
        int64_t chunk = (dim + nout - 1) / nout;
        for (int i = 0; i < nout; ++i) split.push_back(std::max<int64_t>(0, std::min(chunk, dim - chunk * i)));
      } else {
        FI_CHECK(dim % nout == 0, InvalidArgument, "dim ", dim, " of axis ", a, " cannot be split into ", nout,
                 " equal parts");
        split.assign(size_t(nout), dim / nout);
      }
    }
    FI_CHECK(int(split.size()) == nout, InvalidArgument, "split has ", split.size(), " entries for ", nout,
             " outputs");
    int64_t sum = 0;
    for (int64_t s : split) {
      FI_CHECK(s >= 0 && s <= dim, InvalidArgument, "invalid split size ", s);
      sum += s;
    }
    FI_CHECK(sum == dim, InvalidArgument, "split sizes sum to ", sum, ", axis ", a, " has ", dim);
    int64_t outer = x.shape().prod(0, int(a)), inner = x.shape().prod(int(a) + 1, x.rank());
    size_t es = x.dtype() == DataType::String ? sizeof(std::string) : dtype_size(x.dtype());
    int64_t off = 0;
    for (int i = 0; i < nout; ++i) {
      Shape s = x.shape();
      s[size_t(a)] = split[size_t(i)];
      int64_t len = split[size_t(i)] * inner;
      if (ctx.has_output(i)) {
        Tensor& y = ctx.output(i, x.dtype(), s);
        parts.push_back({static_cast<const char*>(x.raw()) + size_t(off) * es, dim * inner, y.raw(), len, len});
      }
      off += len;
    }
    return outer;
  }

  int64_t axis_;
  bool split_from_input_;
  bool split_is_constant_ = false;  // the sizes input, when there is one, is a constant
  int64_t num_outputs_ = 0;
  std::vector<int64_t> split_;
};

}  // namespace

void register_concat_split_ops(OpRegistry& r) {
  r.add("Concat", 4, make_kernel<ConcatKernel>);
  r.add("Split", 2, make_kernel<SplitKernel>);
  r.add("ai.fastinfer", "ConcatInto", 1, make_kernel<ConcatIntoKernel>);
}

}  // namespace fi
