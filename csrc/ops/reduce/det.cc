// Det: determinant of each M x M matrix in the trailing two dims of [..., M, M], by LU
// decomposition with partial pivoting in double precision.
#include <algorithm>
#include <cmath>

#include "ops/reduce/register.h"
#include "ops/reduce/reduce_util.h"

namespace fi {
namespace {

class DetKernel : public OpKernel {
 public:
  explicit DetKernel(const OpInit&) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int rank = x.rank();
    FI_CHECK(rank >= 2, InvalidArgument, "Det: input must have rank >= 2, got shape ", x.shape().str());
    int64_t m = x.dim(rank - 1);
    FI_CHECK(x.dim(rank - 2) == m, InvalidArgument, "Det: matrices must be square, got shape ", x.shape().str());
    Shape os(x.shape().begin(), x.shape().end() - 2);
    Tensor& y = ctx.output(0, x.dtype(), os);
    int64_t batch = os.numel();
    if (batch == 0) return;
    dispatch_float(x.dtype(), "Det", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), batch, 1, [&](int64_t b, int64_t e) {
        std::vector<double> a(static_cast<size_t>(m * m));
        for (int64_t n = b; n < e; ++n) {
          const T* src = px + n * m * m;
          for (int64_t i = 0; i < m * m; ++i) a[size_t(i)] = double(src[i]);
          double det = 1.0;
          for (int64_t c = 0; c < m; ++c) {
            int64_t piv = c;
            for (int64_t r = c + 1; r < m; ++r)
              if (std::fabs(a[size_t(r * m + c)]) > std::fabs(a[size_t(piv * m + c)])) piv = r;
            if (a[size_t(piv * m + c)] == 0.0) { det = 0.0; break; }
            if (piv != c) {
              for (int64_t j = 0; j < m; ++j) std::swap(a[size_t(c * m + j)], a[size_t(piv * m + j)]);
              det = -det;
            }
            double p = a[size_t(c * m + c)];
            det *= p;
            for (int64_t r = c + 1; r < m; ++r) {
              double f = a[size_t(r * m + c)] / p;
              if (f == 0.0) continue;
              for (int64_t j = c + 1; j < m; ++j) a[size_t(r * m + j)] -= f * a[size_t(c * m + j)];
            }
          }
          py[n] = T(det);
        }
      });
    });
  }
};

}  // namespace

void register_det_kernels(OpRegistry& r) { r.add("Det", 11, make_kernel<DetKernel>); }

}  // namespace fi
