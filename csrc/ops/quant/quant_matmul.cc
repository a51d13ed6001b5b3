// MatMulInteger and QLinearMatMul: numpy-style batched matmul of 8-bit integers with int32
// accumulation of (a - a_zero_point) * (b - b_zero_point). Zero points are per tensor, per row of A
// (M elements) or per column of B (N elements). MatMulInteger returns the int32 sums;
// QLinearMatMul requantises them: y = saturate(round(acc * a_scale * b_scale / y_scale) + y_zp).
#include "ops/op_util.h"
#include "ops/quant/quant_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

struct MatMulPlan {
  int64_t M = 1, K = 1, N = 1, batches = 1;
  Shape out;
  std::vector<int64_t> a_off, b_off;  // element offsets of each batch's matrices
};

MatMulPlan plan_matmul(const Shape& as, const Shape& bs) {
  FI_CHECK(as.rank() >= 1 && bs.rank() >= 1, InvalidArgument, "MatMul inputs must have rank >= 1");
  Shape a = as, b = bs;
  if (a.rank() == 1) a.insert(0, 1);
  if (b.rank() == 1) b.push_back(1);
  MatMulPlan p;
  p.M = a[size_t(a.rank() - 2)];
  p.K = a.back();
  p.N = b.back();
  FI_CHECK(b[size_t(b.rank() - 2)] == p.K, InvalidArgument, "MatMul inner dimensions differ: ", as.str(), " x ",
           bs.str());
  Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Shape batch = broadcast_shapes(ab, bb);
  Shape sa = broadcast_strides(ab, batch), sb = broadcast_strides(bb, batch);
  p.batches = batch.numel();
  p.a_off.resize(size_t(p.batches));
  p.b_off.resize(size_t(p.batches));
  for (int64_t i = 0; i < p.batches; ++i) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = batch.rank() - 1; d >= 0; --d) {
      int64_t idx = rem % batch[size_t(d)];
      rem /= batch[size_t(d)];
      oa += idx * sa[size_t(d)];
      ob += idx * sb[size_t(d)];
    }
    p.a_off[size_t(i)] = oa * p.M * p.K;
    p.b_off[size_t(i)] = ob * p.K * p.N;
  }
  p.out = batch;
  if (as.rank() >= 2) p.out.push_back(p.M);
  if (bs.rank() >= 2) p.out.push_back(p.N);
  return p;
}

std::vector<int32_t> zero_points(const Tensor* zp, DataType want, int64_t per, const char* what) {
  if (!zp) return std::vector<int32_t>(size_t(per), 0);
  FI_CHECK(zp->dtype() == want, InvalidArgument, what, " must have type ", dtype_name(want), ", got ",
           dtype_name(zp->dtype()));
  std::vector<int32_t> v = quant_to_int32(*zp, what);
  FI_CHECK(v.size() == 1 || int64_t(v.size()) == per, InvalidArgument, what, " must have 1 or ", per,
           " elements, got ", v.size());
  if (v.size() == 1) v.assign(size_t(per), v[0]);
  return v;
}

void check_8bit(const Tensor& t, const char* what) {
  FI_CHECK(t.dtype() == DataType::UInt8 || t.dtype() == DataType::Int8, NotImplemented, what,
           " must be uint8 or int8, got ", dtype_name(t.dtype()));
}

// acc[batch, M, N] = sum_k (a - azp[m]) * (b - bzp[n]).
std::vector<int32_t> int_matmul(KernelContext& ctx, const Tensor& a, const Tensor& b, const std::vector<int32_t>& azp,
                                const std::vector<int32_t>& bzp, const MatMulPlan& p) {
  std::vector<int32_t> av = quant_to_int32(a, "MatMul A"), bv = quant_to_int32(b, "MatMul B");
  std::vector<int32_t> acc(size_t(p.batches * p.M * p.N), 0);
  const int64_t M = p.M, K = p.K, N = p.N;
  parallel_for(ctx.pool(), p.batches * M, 1, [&](int64_t lo, int64_t hi) {
    std::vector<int32_t> arow(static_cast<size_t>(K));
    for (int64_t r = lo; r < hi; ++r) {
      int64_t bi = r / M, m = r % M;
      const int32_t* ap = &av[size_t(p.a_off[size_t(bi)] + m * K)];
      for (int64_t k = 0; k < K; ++k) arow[size_t(k)] = ap[k] - azp[size_t(m)];
      int32_t* out = &acc[size_t(r * N)];
      const int32_t* bp = bv.data() + p.b_off[size_t(bi)];
      for (int64_t k = 0; k < K; ++k) {
        int32_t x = arow[size_t(k)];
        if (x == 0) continue;
        const int32_t* brow = bp + k * N;
        for (int64_t n = 0; n < N; ++n)  // wraps modulo 2^32 like int32 accumulators
          out[n] = int32_t(uint32_t(out[n]) + uint32_t(x * (brow[n] - bzp[size_t(n)])));
      }
    }
  });
  return acc;
}

class MatMulIntegerKernel : public OpKernel {
 public:
  explicit MatMulIntegerKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    check_8bit(a, "A");
    check_8bit(b, "B");
    MatMulPlan p = plan_matmul(a.shape(), b.shape());
    std::vector<int32_t> azp = zero_points(ctx.input(2), a.dtype(), p.M, "a_zero_point");
    std::vector<int32_t> bzp = zero_points(ctx.input(3), b.dtype(), p.N, "b_zero_point");
    std::vector<int32_t> acc = int_matmul(ctx, a, b, azp, bzp, p);
    Tensor& y = ctx.output(0, DataType::Int32, p.out);
    std::copy(acc.begin(), acc.end(), y.data<int32_t>());
  }
};

std::vector<float> scales(const Tensor& s, int64_t per, const char* what) {
  std::vector<float> v = quant_to_float(s, what);
  FI_CHECK(dtype_is_float(s.dtype()), InvalidArgument, what, " must be a float tensor");
  FI_CHECK(v.size() == 1 || int64_t(v.size()) == per, InvalidArgument, what, " must have 1 or ", per,
           " elements, got ", v.size());
  if (v.size() == 1) v.assign(size_t(per), v[0]);
  return v;
}

class QLinearMatMulKernel : public OpKernel {
 public:
  explicit QLinearMatMulKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(3);
    check_8bit(a, "a");
    check_8bit(b, "b");
    MatMulPlan p = plan_matmul(a.shape(), b.shape());
    std::vector<float> as = scales(ctx.in(1), p.M, "a_scale"), bs = scales(ctx.in(4), p.N, "b_scale");
    std::vector<float> ys = scales(ctx.in(6), 1, "y_scale");
    std::vector<int32_t> azp = zero_points(&ctx.in(2), a.dtype(), p.M, "a_zero_point");
    std::vector<int32_t> bzp = zero_points(&ctx.in(5), b.dtype(), p.N, "b_zero_point");
    const Tensor& yzp_t = ctx.in(7);
    check_8bit(yzp_t, "y_zero_point");
    FI_CHECK(yzp_t.numel() == 1, InvalidArgument, "y_zero_point must have one element");
    float yzp = float(quant_to_int32(yzp_t, "y_zero_point")[0]);
    std::vector<int32_t> acc = int_matmul(ctx, a, b, azp, bzp, p);
    Tensor& y = ctx.output(0, yzp_t.dtype(), p.out);
    const int64_t M = p.M, N = p.N;
    quant_store(y, true, [&](int64_t i) {
      int64_t n = i % N, m = (i / N) % M;
      float mult = as[size_t(m)] * bs[size_t(n)] / ys[0];
      return std::nearbyint(float(acc[size_t(i)]) * mult) + yzp;
    }, ctx.pool());
  }
};

}  // namespace

void register_quant_matmul(OpRegistry& r) {
  r.add("MatMulInteger", 10, make_kernel<MatMulIntegerKernel>);
  r.add("QLinearMatMul", 10, make_kernel<QLinearMatMulKernel>);
}

}  // namespace fi
