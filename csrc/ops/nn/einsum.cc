// Einsum: the general equation (explicit or implicit output, repeated labels within an input
// (diagonals), ellipsis with broadcasting, summed labels, any number of inputs). Labels become
// per-input strides (summed for a repeated label, 0 where broadcast). Two float32 inputs without
// diagonals or one-sided sums run as transpose + batched fast GEMM; everything else runs a plain
// loop over output x summed indices.
#include <algorithm>
#include <string>

#include "core/dispatch_type.h"
#include "ops/nn/gemm_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

constexpr int kEllipsis = -1;  // marker in a parsed term
constexpr int kLetters = 52;   // labels 0..51 are letters (ASCII order: A-Z, a-z); 52+ ellipsis dims

int letter_label(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -2;
}

// Copies src viewed with `dims` and per-dim element strides into contiguous dst.
template <class T>
void strided_gather(T* dst, const T* src, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (total == 0) return;
  if (dims.empty()) {
    dst[0] = src[0];
    return;
  }
  const size_t r = dims.size();
  std::vector<int64_t> idx(r, 0);
  const int64_t inner = dims[r - 1], is = strides[r - 1];
  int64_t off = 0;
  for (int64_t done = 0; done < total; done += inner) {
    for (int64_t j = 0; j < inner; ++j) dst[done + j] = src[off + j * is];
    for (size_t d = r - 1; d-- > 0;) {
      off += strides[d];
      if (++idx[d] < dims[d]) break;
      off -= strides[d] * dims[d];
      idx[d] = 0;
    }
  }
}

struct Plan {
  std::vector<int64_t> size;                  // per label (index into `labels`)
  std::vector<std::vector<int64_t>> stride;   // per input, per label
  std::vector<int> out, red;                  // label indices
  std::vector<std::vector<int>> count;        // per input, per label: occurrences
};

class EinsumKernel : public OpKernel {
 public:
  explicit EinsumKernel(const OpInit& init) {
    std::string eq;
    for (char c : init.attrs().get_string("equation", "")) if (c != ' ') eq += c;
    FI_CHECK(!eq.empty(), InvalidModel, "Einsum: the equation attribute is required");
    size_t arrow = eq.find("->");
    has_arrow_ = arrow != std::string::npos;
    std::string lhs = has_arrow_ ? eq.substr(0, arrow) : eq;
    size_t start = 0;
    while (true) {
      size_t comma = lhs.find(',', start);
      terms_.push_back(parse_term(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (has_arrow_) out_term_ = parse_term(eq.substr(arrow + 2));
    FI_CHECK(int(terms_.size()) == init.num_inputs(), InvalidModel, "Einsum: the equation has ", terms_.size(),
             " input terms but the node has ", init.num_inputs(), " inputs");
  }

  void compute(KernelContext& ctx) const override {
    const int n_in = int(terms_.size());
    FI_CHECK(ctx.num_inputs() == n_in, InvalidArgument, "Einsum: expected ", n_in, " inputs");
    DataType dt = ctx.in(0).dtype();
    for (int i = 1; i < n_in; ++i)
      FI_CHECK(ctx.in(i).dtype() == dt, InvalidArgument, "Einsum: inputs must share one element type");
    Plan p = plan(ctx);
    Shape ys;
    for (int l : p.out) ys.push_back(p.size[size_t(l)]);
    Tensor& Y = ctx.output(0, dt, ys);
    if (Y.numel() == 0) return;
    if (dt == DataType::Float && n_in == 2 && gemm_path(ctx, p, Y)) return;
    dispatch_numeric(dt, "Einsum", [&](auto tag) {
      using T = typename decltype(tag)::type;
      loop_path<T>(ctx, p, Y);
    });
  }

 private:
  static std::vector<int> parse_term(const std::string& t) {
    std::vector<int> r;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t.compare(i, 3, "...") == 0) {
        FI_CHECK(std::find(r.begin(), r.end(), kEllipsis) == r.end(), InvalidModel,
                 "Einsum: more than one ellipsis in a term");
        r.push_back(kEllipsis);
        i += 2;
        continue;
      }
      int l = letter_label(t[i]);
      FI_CHECK(l >= 0, InvalidModel, "Einsum: invalid character '", t[i], "' in the equation");
      r.push_back(l);
    }
    return r;
  }

  // Labels, sizes and strides for these input shapes.
  Plan plan(KernelContext& ctx) const {
    const int n_in = int(terms_.size());
    std::vector<int64_t> ell(static_cast<size_t>(n_in));
    int64_t E = 0;
    for (int i = 0; i < n_in; ++i) {
      const std::vector<int>& t = terms_[size_t(i)];
      bool has_e = std::find(t.begin(), t.end(), kEllipsis) != t.end();
      int64_t letters = int64_t(t.size()) - (has_e ? 1 : 0);
      int64_t e = ctx.in(i).rank() - letters;
      FI_CHECK(e >= 0 && (has_e || e == 0), InvalidArgument, "Einsum: input ", i, " has rank ", ctx.in(i).rank(),
               " but its term has ", letters, " labels");
      ell[size_t(i)] = e;
      E = std::max(E, e);
    }
    const size_t L = size_t(kLetters + E);
    Plan p;
    p.size.assign(L, -1);
    // Per input, the label of each dim.
    std::vector<std::vector<int>> dim_label(static_cast<size_t>(n_in));
    for (int i = 0; i < n_in; ++i) {
      for (int l : terms_[size_t(i)]) {
        if (l == kEllipsis) {
          for (int64_t j = 0; j < ell[size_t(i)]; ++j) dim_label[size_t(i)].push_back(int(kLetters + E - ell[size_t(i)] + j));
        } else {
          dim_label[size_t(i)].push_back(l);
        }
      }
      const Shape& s = ctx.in(i).shape();
      for (size_t d = 0; d < dim_label[size_t(i)].size(); ++d) {
        int64_t& sz = p.size[size_t(dim_label[size_t(i)][d])];
        int64_t v = s[d];
        if (sz == -1 || sz == 1) sz = v;
        else FI_CHECK(v == sz || v == 1, InvalidArgument, "Einsum: dimension ", v, " of input ", i,
                      " does not match ", sz, " for the same label");
      }
    }
    p.stride.assign(size_t(n_in), std::vector<int64_t>(L, 0));
    p.count.assign(size_t(n_in), std::vector<int>(L, 0));
    for (int i = 0; i < n_in; ++i) {
      const Shape& s = ctx.in(i).shape();
      int64_t st = 1;
      for (size_t d = s.size(); d-- > 0;) {
        int l = dim_label[size_t(i)][d];
        if (p.count[size_t(i)][size_t(l)] > 0)
          FI_CHECK(s[d] == p.size[size_t(l)], InvalidArgument, "Einsum: a repeated label of input ", i,
                   " has different dimensions");
        if (s[d] != 1 || p.size[size_t(l)] == 1) p.stride[size_t(i)][size_t(l)] += st;
        p.count[size_t(i)][size_t(l)]++;
        st *= s[d];
      }
    }
    std::vector<int> total(L, 0);
    for (int i = 0; i < n_in; ++i)
      for (size_t l = 0; l < L; ++l) total[l] += p.count[size_t(i)][l];
    if (has_arrow_) {
      for (int l : out_term_) {
        if (l == kEllipsis) {
          for (int64_t j = 0; j < E; ++j) p.out.push_back(int(kLetters + j));
          continue;
        }
        FI_CHECK(total[size_t(l)] > 0, InvalidArgument, "Einsum: output label does not appear in any input");
        FI_CHECK(std::find(p.out.begin(), p.out.end(), l) == p.out.end(), InvalidArgument,
                 "Einsum: output label repeated");
        p.out.push_back(l);
      }
    } else {
      for (int64_t j = 0; j < E; ++j) p.out.push_back(int(kLetters + j));
      for (int l = 0; l < kLetters; ++l)
        if (total[size_t(l)] == 1) p.out.push_back(l);
    }
    for (size_t l = 0; l < L; ++l)
      if (total[l] > 0 && std::find(p.out.begin(), p.out.end(), int(l)) == p.out.end()) p.red.push_back(int(l));
    for (size_t l = 0; l < L; ++l)
      if (p.size[l] < 0) p.size[l] = 1;
    return p;
  }

  // Y[out] = sum over red of prod_i X_i[...].
  template <class T>
  void loop_path(KernelContext& ctx, const Plan& p, Tensor& Y) const {
    using A = nn::acc_t<T>;
    const int n_in = int(terms_.size());
    std::vector<const T*> x(static_cast<size_t>(n_in));
    for (int i = 0; i < n_in; ++i) x[size_t(i)] = ctx.in(i).data<T>();
    int64_t red_n = 1;
    for (int l : p.red) red_n *= p.size[size_t(l)];
    T* y = Y.data<T>();
    const int64_t out_n = Y.numel();
    parallel_for(ctx.pool(), out_n, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, red_n)), [&](int64_t o0, int64_t o1) {
      std::vector<int64_t> base(static_cast<size_t>(n_in)), off(static_cast<size_t>(n_in)), ridx(p.red.size());
      for (int64_t o = o0; o < o1; ++o) {
        std::fill(base.begin(), base.end(), 0);
        int64_t t = o;
        for (size_t d = p.out.size(); d-- > 0;) {
          int l = p.out[d];
          int64_t v = t % p.size[size_t(l)];
          t /= p.size[size_t(l)];
          for (int i = 0; i < n_in; ++i) base[size_t(i)] += v * p.stride[size_t(i)][size_t(l)];
        }
        A acc = A(0);
        off = base;
        std::fill(ridx.begin(), ridx.end(), 0);
        for (int64_t r = 0; r < red_n; ++r) {
          A prod = A(x[0][off[0]]);
          for (int i = 1; i < n_in; ++i) prod = A(prod * A(x[size_t(i)][off[size_t(i)]]));
          acc += prod;
          for (size_t d = p.red.size(); d-- > 0;) {
            int l = p.red[d];
            for (int i = 0; i < n_in; ++i) off[size_t(i)] += p.stride[size_t(i)][size_t(l)];
            if (++ridx[d] < p.size[size_t(l)]) break;
            for (int i = 0; i < n_in; ++i) off[size_t(i)] -= p.stride[size_t(i)][size_t(l)] * p.size[size_t(l)];
            ridx[d] = 0;
          }
        }
        y[o] = T(acc);
      }
    });
  }

  // Two float inputs: gather A to [batch, M, K] and B to [batch, K, N], batched GEMM, then
  // reorder to the output labels. False when the equation needs the loop (diagonals, one-sided sums).
  bool gemm_path(KernelContext& ctx, const Plan& p, Tensor& Y) const {
    const auto& ca = p.count[0];
    const auto& cb = p.count[1];
    std::vector<int> batch, ml, nl, kl;
    auto in_out = [&](int l) { return std::find(p.out.begin(), p.out.end(), l) != p.out.end(); };
    for (size_t l = 0; l < ca.size(); ++l) {
      if (ca[l] > 1 || cb[l] > 1) return false;
      bool a = ca[l] > 0, b = cb[l] > 0, o = in_out(int(l));
      if (!a && !b) continue;
      if (a && b) (o ? batch : kl).push_back(int(l));
      else if (!o) return false;
      else (a ? ml : nl).push_back(int(l));
    }
    auto prod = [&](const std::vector<int>& ls) {
      int64_t n = 1;
      for (int l : ls) n *= p.size[size_t(l)];
      return n;
    };
    const int64_t nb = prod(batch), M = prod(ml), N = prod(nl), K = prod(kl);
    auto gather = [&](int i, std::vector<int> order, float* dst) {
      std::vector<int64_t> dims, strides;
      for (int l : order) {
        dims.push_back(p.size[size_t(l)]);
        strides.push_back(p.stride[size_t(i)][size_t(l)]);
      }
      strided_gather<float>(dst, ctx.in(i).data<float>(), dims, strides);
    };
    std::vector<int> a_order = batch, b_order = batch, c_order = batch;
    a_order.insert(a_order.end(), ml.begin(), ml.end());
    a_order.insert(a_order.end(), kl.begin(), kl.end());
    b_order.insert(b_order.end(), kl.begin(), kl.end());
    b_order.insert(b_order.end(), nl.begin(), nl.end());
    c_order.insert(c_order.end(), ml.begin(), ml.end());
    c_order.insert(c_order.end(), nl.begin(), nl.end());
    float* a = ctx.scratch_as<float>(size_t(std::max<int64_t>(1, nb * M * K)));
    float* b = ctx.scratch_as<float>(size_t(std::max<int64_t>(1, nb * K * N)));
    gather(0, a_order, a);
    gather(1, b_order, b);
    bool direct = c_order == p.out;
    float* c = direct ? Y.data<float>() : ctx.scratch_as<float>(size_t(nb * M * N));
    const kernels::F32GemmKernel& kern = kernels::select_f32_gemm(M, N, K);
    size_t ws_size = std::max<size_t>(1, kernels::f32_pack_b_size(K, N, kern.nr));
    int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
    int64_t chunks = std::min<int64_t>(nb, threads);
    float* ws = ctx.scratch_as<float>(ws_size * size_t(chunks));
    ThreadPool* inner = chunks > 1 ? nullptr : ctx.pool();
    parallel_for(chunks > 1 ? ctx.pool() : nullptr, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch)
        for (int64_t t = nb * ch / chunks; t < nb * (ch + 1) / chunks; ++t)
          kernels::f32_gemm_plain(kern, M, N, K, a + t * M * K, K, b + t * K * N, N, 1, c + t * M * N, N,
                                  kernels::Epilogue(), ws + size_t(ch) * ws_size, inner);
    });
    if (!direct) {
      // Strides of c in c_order, then read in output order.
      std::vector<int64_t> cst(p.size.size(), 0);
      int64_t st = 1;
      for (size_t d = c_order.size(); d-- > 0;) {
        cst[size_t(c_order[d])] = st;
        st *= p.size[size_t(c_order[d])];
      }
      std::vector<int64_t> dims, strides;
      for (int l : p.out) {
        dims.push_back(p.size[size_t(l)]);
        strides.push_back(cst[size_t(l)]);
      }
      strided_gather<float>(Y.data<float>(), c, dims, strides);
    }
    return true;
  }

  std::vector<std::vector<int>> terms_;
  std::vector<int> out_term_;
  bool has_arrow_ = false;
};

}  // namespace

void register_einsum_ops(OpRegistry& r) { r.add("Einsum", 12, make_kernel<EinsumKernel>); }

}  // namespace fi
