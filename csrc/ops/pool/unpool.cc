// MaxUnpool: scatters X into a zero tensor at the flat indices I (as produced by MaxPool's
// Indices output, flat over the whole output tensor). Output shape from the optional
// output_shape input, else (in - 1) * stride + kernel - pad_head - pad_tail per spatial dim.
#include <cstring>

#include "ops/pool/pool_geometry.h"
#include "ops/pool/pool_ops.h"
#include "ops/registry.h"

namespace fi {

namespace {

class MaxUnpoolKernel : public OpKernel {
 public:
  explicit MaxUnpoolKernel(const OpInit& init) { a_.read(init, false, false); }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& ind = ctx.in(1);
    FI_CHECK(x.rank() >= 3, InvalidArgument, "MaxUnpool: X must have rank >= 3, got ", x.shape().str());
    FI_CHECK(ind.shape() == x.shape(), InvalidArgument, "MaxUnpool: I has shape ", ind.shape().str(),
             ", X has ", x.shape().str());
    FI_CHECK(ind.dtype() == DataType::Int64, InvalidArgument, "MaxUnpool: I must be int64");
    size_t nsp = size_t(x.rank() - 2);
    FI_CHECK(a_.kernel.size() == nsp, InvalidArgument, "MaxUnpool: kernel_shape has rank ", a_.kernel.size(),
             " but X has ", nsp, " spatial dims");
    // indices address the inferred shape; an output_shape input embeds it at the origin
    Shape inf;
    inf.push_back(x.dim(0));
    inf.push_back(x.dim(1));
    for (size_t i = 0; i < nsp; ++i) {
      int64_t s = a_.strides.empty() ? 1 : a_.strides[i];
      int64_t pads = a_.pads.empty() ? 0 : a_.pads[i] + a_.pads[i + nsp];
      int64_t d = (x.dim(int(2 + i)) - 1) * s + a_.kernel[i] - pads;
      FI_CHECK(d >= 0, InvalidArgument, "MaxUnpool: negative output dim");
      inf.push_back(d);
    }
    Shape ys = inf;
    const Tensor* os = ctx.input(2);
    if (os) {
      std::vector<int64_t> v = os->to_int64_vector();
      FI_CHECK(v.size() == size_t(x.rank()), InvalidArgument, "MaxUnpool: output_shape has ", v.size(),
               " values for X of rank ", x.rank());
      for (size_t i = 0; i < v.size(); ++i)
        FI_CHECK(v[i] >= inf[i], InvalidArgument, "MaxUnpool: output_shape ", Shape(v).str(),
                 " is smaller than the unpooled shape ", inf.str());
      ys = Shape(v);
    }
    FI_CHECK(x.dtype() != DataType::String, NotImplemented, "MaxUnpool: strings are not supported");
    Tensor& y = ctx.output(0, x.dtype(), ys);
    size_t es = dtype_size(x.dtype());
    unsigned char* py = static_cast<unsigned char*>(y.raw());
    std::memset(py, 0, y.nbytes());
    const unsigned char* px = static_cast<const unsigned char*>(x.raw());
    const int64_t* pi = ind.data<int64_t>();
    int64_t n = x.numel(), ninf = inf.numel();
    int r = x.rank();
    bool same = ys == inf;
    for (int64_t i = 0; i < n; ++i) {
      int64_t k;
      std::memcpy(&k, pi + i, sizeof k);
      FI_CHECK(k >= 0 && k < ninf, InvalidArgument, "MaxUnpool: index ", k, " out of range [0, ", ninf, ")");
      int64_t dst = same ? k : 0, rem = k, mul = 1;  // coordinates of k in `inf`, re-flattened in `ys`
      for (int d = same ? -1 : r - 1; d >= 0; --d) {
        int64_t c = rem % inf[size_t(d)];
        rem /= inf[size_t(d)];
        dst += c * mul;
        mul *= ys[size_t(d)];
      }
      std::memcpy(py + size_t(dst) * es, px + size_t(i) * es, es);
    }
  }

 private:
  PoolAttrs a_;
};

}  // namespace

void register_unpool_kernels(OpRegistry& r) { r.add("MaxUnpool", 9, make_kernel<MaxUnpoolKernel>); }

}  // namespace fi
