// Kernel entry points exposed as fastinfer._core.kernels for the kernel tests and bench/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/dwconv.h"
#include "kernels/gemm.h"
#include "kernels/winograd.h"

namespace py = pybind11;

namespace {

using FArray = py::array_t<float, py::array::forcecast>;

py::list list_kernels(const std::string& family) {
  py::list out;
  if (family == "f32_dwconv") {
    for (const auto& k : fi::kernels::f32_dwconv_kernels()) {
      py::dict d;
      d["name"] = k.name;
      d["isa"] = fi::isa_name(fi::IsaTier(k.tier));
      d["kh"] = k.kh;
      d["kw"] = k.kw;
      d["sw"] = k.sw;
      d["supported"] = fi::kernels::f32_dwconv_supported(k);
      out.append(d);
    }
    return out;
  }
  if (family == "f32_winograd") {
    for (const auto& k : fi::kernels::f32_winograd_kernels()) {
      py::dict d;
      d["name"] = k.name;
      d["isa"] = fi::isa_name(fi::IsaTier(k.tier));
      d["m"] = k.m;
      d["lanes"] = k.lanes;
      d["supported"] = fi::kernels::f32_winograd_supported(k);
      out.append(d);
    }
    return out;
  }
  if (family != "f32_gemm") throw py::value_error("unknown kernel family: " + family);
  for (const auto& k : fi::kernels::f32_gemm_kernels()) {
    py::dict d;
    d["name"] = k.name;
    d["isa"] = fi::isa_name(fi::IsaTier(k.tier));
    d["mr"] = k.mr;
    d["nr"] = k.nr;
    d["supported"] = fi::kernels::f32_gemm_supported(k);
    out.append(d);
  }
  return out;
}

fi::kernels::Activation activation_from_name(const std::string& s) {
  using fi::kernels::Activation;
  static const std::pair<const char*, Activation> names[] = {
      {"none", Activation::None},         {"sigmoid", Activation::Sigmoid},   {"tanh", Activation::Tanh},
      {"silu", Activation::Silu},         {"gelu_erf", Activation::GeluErf}, {"gelu_tanh", Activation::GeluTanh},
      {"hardswish", Activation::HardSwish}};
  for (const auto& p : names)
    if (s == p.first) return p.second;
  throw py::value_error("unknown activation " + s);
}

using CArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// An epilogue with the clamp and activation given, and the bias when it is not None: `len` floats,
// held in `keep` for as long as the epilogue is used.
fi::kernels::Epilogue make_epilogue(float clamp_min, float clamp_max, const std::string& act, py::object bias,
                                    int64_t len, CArray& keep) {
  fi::kernels::Epilogue ep;
  ep.clamp_min = clamp_min;
  ep.clamp_max = clamp_max;
  ep.act = activation_from_name(act);
  if (!bias.is_none()) {
    keep = CArray(bias);
    if (keep.size() != len) throw py::value_error("bias has the wrong size");
    ep.bias = keep.data();
  }
  return ep;
}

// C = epilogue(A @ B) with the named microkernel. A may be a strided 2-D view (unit inner stride);
// B is [K, N] (or [N, K] with trans_b); bias is [M] or [N]; residual broadcasts to [M, N].
py::array f32_gemm(const std::string& name, FArray a, FArray b, py::object bias, bool bias_per_row,
                   py::object residual, float alpha, float beta, float clamp_min, float clamp_max, bool packed,
                   bool trans_b, int threads, int c_pad, const std::string& act, bool pack_a) {
  using namespace fi::kernels;
  const F32GemmKernel* kern = find_f32_gemm(name.c_str());
  if (!kern) throw py::value_error("unknown kernel " + name);
  if (!f32_gemm_supported(*kern)) throw py::value_error("kernel " + name + " is not supported on this CPU");
  if (a.ndim() != 2 || b.ndim() != 2) throw py::value_error("A and B must be 2-D");
  int64_t m = a.shape(0), k = a.shape(1);
  bool strided_ok = (k <= 1 || a.strides(1) == sizeof(float)) &&
                    (m <= 1 || (a.strides(0) % sizeof(float) == 0 && a.strides(0) / int64_t(sizeof(float)) >= k));
  if (!strided_ok) a = py::array_t<float, py::array::c_style | py::array::forcecast>(a);
  int64_t lda = m > 1 ? a.strides(0) / int64_t(sizeof(float)) : k;
  py::array_t<float, py::array::c_style | py::array::forcecast> bc(b);
  int64_t kb = trans_b ? bc.shape(1) : bc.shape(0), n = trans_b ? bc.shape(0) : bc.shape(1);
  if (kb != k) throw py::value_error("inner dimensions differ");
  if (c_pad < 0) throw py::value_error("c_pad must be >= 0");
  int64_t ldc = n + c_pad;
  CArray biasc, resc;
  Epilogue ep = make_epilogue(clamp_min, clamp_max, act, bias, bias_per_row ? m : n, biasc);
  ep.alpha = alpha;
  ep.beta = beta;
  ep.bias_per_row = bias_per_row;
  if (!residual.is_none()) {
    resc = CArray(residual);
    if (resc.ndim() != 2) throw py::value_error("residual must be 2-D");
    int64_t rm = resc.shape(0), rn = resc.shape(1);
    if ((rm != m && rm != 1) || (rn != n && rn != 1)) throw py::value_error("residual does not broadcast");
    ep.residual = resc.data();
    ep.res_row_stride = rm == 1 ? 0 : rn;
    ep.res_col_stride = rn == 1 ? 0 : 1;
  }
  py::array_t<float> c({m, ldc});
  std::unique_ptr<fi::ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<fi::ThreadPool>(threads);
  const float* bp = bc.data();
  int64_t sk = trans_b ? 1 : n, sn = trans_b ? k : 1;
  std::vector<float> work(std::max<size_t>(1, f32_pack_b_size(k, n, kern->nr)));
  std::vector<float> awork(pack_a ? std::max<size_t>(1, f32_pack_a_size(m, k, kern->mr)) : 0);
  {
    py::gil_scoped_release nogil;
    if (pack_a) {
      F32PackedA pa = f32_pack_a(m, k, a.data(), lda, 1, kern->mr, awork.data(), pool.get());
      F32PackedB pb = f32_pack_b(k, n, bp, sk, sn, kern->nr, work.data(), pool.get());
      f32_gemm(*kern, m, n, k, pa, pb, c.mutable_data(), ldc, ep, pool.get());
    } else if (packed) {
      F32PackedB pb = f32_pack_b(k, n, bp, sk, sn, kern->nr, work.data(), pool.get());
      f32_gemm(*kern, m, n, k, a.data(), lda, pb, c.mutable_data(), ldc, ep, pool.get());
    } else {
      f32_gemm_plain(*kern, m, n, k, a.data(), lda, bp, sk, sn, c.mutable_data(), ldc, ep, work.data(),
                     pool.get());
    }
  }
  return c[py::make_tuple(py::slice(0, m, 1), py::slice(0, n, 1))];
}

// Implicit GEMM with the named microkernel: row i of A is the concatenation over taps t of
// src[ind[i, t], a_offset : a_offset + tap_k] (tap_k = B's rows / taps; -1: zeros); B is
// [taps * tap_k, N]. residual [M, N] is added in the epilogue, from C's own memory when in_place (a
// conv over its residual's buffer).
py::array f32_gemm_indirect(const std::string& name, FArray src, py::array_t<int64_t, py::array::forcecast> ind,
                            FArray b, py::object bias, py::object residual, bool in_place, float clamp_min,
                            float clamp_max, const std::string& act, int threads, int64_t a_offset) {
  using namespace fi::kernels;
  const F32GemmKernel* kern = find_f32_gemm(name.c_str());
  if (!kern) throw py::value_error("unknown kernel " + name);
  if (!f32_gemm_supported(*kern)) throw py::value_error("kernel " + name + " is not supported on this CPU");
  py::array_t<float, py::array::c_style | py::array::forcecast> sc(src), bc(b);
  py::array_t<int64_t, py::array::c_style | py::array::forcecast> ic(ind);
  if (sc.ndim() != 2 || ic.ndim() != 2 || bc.ndim() != 2) throw py::value_error("src, ind and B must be 2-D");
  const int64_t rows = sc.shape(0), width = sc.shape(1), m = ic.shape(0), taps = ic.shape(1), n = bc.shape(1);
  if (taps < 1 || bc.shape(0) % taps != 0) throw py::value_error("B's rows must be a multiple of the taps");
  const int64_t tap_k = bc.shape(0) / taps;
  if (a_offset < 0 || a_offset + tap_k > width) throw py::value_error("a_offset + tap_k must fit in src's rows");
  std::vector<float> zeros(size_t(std::max<int64_t>(1, width)), 0.f);
  std::vector<const float*> ptrs(size_t(m * taps));
  for (int64_t i = 0; i < m * taps; ++i) {
    const int64_t r = ic.data()[i];
    if (r < -1 || r >= rows) throw py::value_error("ind out of range");
    ptrs[size_t(i)] = r < 0 ? zeros.data() : sc.data() + r * width;
  }
  CArray biasc, resc;
  Epilogue ep = make_epilogue(clamp_min, clamp_max, act, bias, n, biasc);
  py::array_t<float> c({m, n});
  if (!residual.is_none()) {
    resc = CArray(residual);
    if (resc.ndim() != 2 || resc.shape(0) != m || resc.shape(1) != n) throw py::value_error("residual must be [M, N]");
    if (in_place) std::copy(resc.data(), resc.data() + m * n, c.mutable_data());
    ep.residual = in_place ? c.data() : resc.data();
    ep.res_row_stride = n;
  }
  std::unique_ptr<fi::ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<fi::ThreadPool>(threads);
  std::vector<float> work(std::max<size_t>(1, f32_pack_b_size(taps * tap_k, n, kern->nr)));
  {
    py::gil_scoped_release nogil;
    F32PackedB pb = f32_pack_b(taps * tap_k, n, bc.data(), n, 1, kern->nr, work.data(), pool.get());
    f32_gemm_indirect(*kern, m, n, taps, tap_k, ptrs.data(), pb, c.mutable_data(), n, ep, pool.get(), a_offset);
  }
  return c;
}

// Seconds per C = A @ B (random A [m, k], B packed once outside the timing) for each of `runs`
// runs with the named kernel; for tile and blocking measurements without Python overhead. One
// thread: the thread's CPU time (robust on a shared machine); more: wall-clock time.
std::vector<double> f32_gemm_time(const std::string& name, int64_t m, int64_t n, int64_t k, int threads, int runs) {
  using namespace fi::kernels;
  const F32GemmKernel* kern = find_f32_gemm(name.c_str());
  if (!kern || !f32_gemm_supported(*kern)) throw py::value_error("unknown or unsupported kernel " + name);
  if (m < 1 || n < 1 || k < 1 || runs < 1) throw py::value_error("m, n, k and runs must be >= 1");
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> a(size_t(m * k)), b(size_t(k * n)), c(size_t(m * n));
  for (float& v : a) v = dist(gen);
  for (float& v : b) v = dist(gen);
  std::vector<float> packed(f32_pack_b_size(k, n, kern->nr));
  F32PackedB pb = f32_pack_b(k, n, b.data(), n, 1, kern->nr, packed.data());
  std::unique_ptr<fi::ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<fi::ThreadPool>(threads);
  std::vector<double> out;
  py::gil_scoped_release nogil;
  auto now = [&] {
    if (pool) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  for (int r = 0; r < runs; ++r) {
    double t0 = now();
    f32_gemm(*kern, m, n, k, a.data(), k, pb, c.data(), n, Epilogue(), pool.get());
    out.push_back(now() - t0);
  }
  return out;
}

// Depthwise conv with the named kernel: x [N, C, H, W], w [C * mult, 1, KH, KW], bias [C * mult];
// strides (sh, sw), pads (top, left, bottom, right), dilations (dh, dw).
py::array f32_dwconv(const std::string& name, FArray x_in, FArray w_in, py::object bias, std::vector<int64_t> strides,
                     std::vector<int64_t> pads, std::vector<int64_t> dilations, float clamp_min, float clamp_max,
                     int threads) {
  using namespace fi::kernels;
  const F32DwConvKernel* kern = find_f32_dwconv(name.c_str());
  if (!kern) throw py::value_error("unknown kernel " + name);
  if (!f32_dwconv_supported(*kern)) throw py::value_error("kernel " + name + " is not supported on this CPU");
  py::array_t<float, py::array::c_style | py::array::forcecast> x(x_in), w(w_in), b;
  if (x.ndim() != 4 || w.ndim() != 4 || w.shape(1) != 1) throw py::value_error("x must be 4-D, w [M, 1, KH, KW]");
  if (strides.size() != 2 || pads.size() != 4 || dilations.size() != 2) throw py::value_error("bad strides/pads/dilations");
  for (int i = 0; i < 2; ++i)
    if (strides[i] < 1 || dilations[i] < 1) throw py::value_error("strides and dilations must be >= 1");
  for (int64_t p : pads)
    if (p < 0) throw py::value_error("pads must be >= 0");
  const int64_t n = x.shape(0), c = x.shape(1), m = w.shape(0);
  if (c == 0 || m % c != 0) throw py::value_error("w.shape[0] must be a multiple of x.shape[1]");
  DwConvGeom g;
  g.in_h = x.shape(2);
  g.in_w = x.shape(3);
  g.kh = w.shape(2);
  g.kw = w.shape(3);
  g.stride_h = strides[0];
  g.stride_w = strides[1];
  g.dil_h = dilations[0];
  g.dil_w = dilations[1];
  g.pad_top = pads[0];
  g.pad_left = pads[1];
  g.out_h = (g.in_h + pads[0] + pads[2] - (g.kh - 1) * g.dil_h - 1) / g.stride_h + 1;
  g.out_w = (g.in_w + pads[1] + pads[3] - (g.kw - 1) * g.dil_w - 1) / g.stride_w + 1;
  if (g.out_h < 1 || g.out_w < 1) throw py::value_error("empty output");
  if (!f32_dwconv_fits(*kern, g)) throw py::value_error("kernel " + name + " does not fit this geometry");
  if (!bias.is_none()) {
    b = py::array_t<float, py::array::c_style | py::array::forcecast>(bias);
    if (b.size() != m) throw py::value_error("bias has the wrong size");
  }
  py::array_t<float> y({n, m, g.out_h, g.out_w});
  std::unique_ptr<fi::ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<fi::ThreadPool>(threads);
  {
    py::gil_scoped_release nogil;
    fi::kernels::f32_dwconv(*kern, g, n, c, m / c, x.data(), w.data(), bias.is_none() ? nullptr : b.data(),
                            clamp_min, clamp_max, y.mutable_data(), pool.get());
  }
  return y;
}

// Winograd F(m,3) conv: x [N, C, H, W], w [M, C / groups, 3, 3], stride 1, pads (top, left,
// bottom, right), with the best allowed transforms for m (FASTINFER_ISA caps them).
py::array f32_winograd_conv(FArray x_in, FArray w_in, py::object bias, py::object residual, std::vector<int64_t> pads,
                            int64_t groups, int m, float clamp_min, float clamp_max, int threads) {
  using namespace fi::kernels;
  py::array_t<float, py::array::c_style | py::array::forcecast> x(x_in), w(w_in), b, r;
  if (x.ndim() != 4 || w.ndim() != 4 || w.shape(2) != 3 || w.shape(3) != 3)
    throw py::value_error("x must be 4-D, w [M, C / groups, 3, 3]");
  if (pads.size() != 4) throw py::value_error("pads must have 4 values");
  for (int64_t p : pads)
    if (p < 0) throw py::value_error("pads must be >= 0");
  if (m != 4 && m != 6) throw py::value_error("m must be 4 or 6");
  const int64_t n = x.shape(0), c = x.shape(1), mo = w.shape(0), cg = w.shape(1);
  if (groups < 1 || cg < 1 || cg * groups != c || mo % groups != 0) throw py::value_error("bad groups");
  WinogradGeom g;
  g.in_h = x.shape(2);
  g.in_w = x.shape(3);
  g.pad_top = pads[0];
  g.pad_left = pads[1];
  g.out_h = g.in_h + pads[0] + pads[2] - 2;
  g.out_w = g.in_w + pads[1] + pads[3] - 2;
  if (g.out_h < 1 || g.out_w < 1) throw py::value_error("empty output");
  if (!bias.is_none()) {
    b = py::array_t<float, py::array::c_style | py::array::forcecast>(bias);
    if (b.size() != mo) throw py::value_error("bias has the wrong size");
  }
  if (!residual.is_none()) {
    r = py::array_t<float, py::array::c_style | py::array::forcecast>(residual);
    if (r.ndim() != 4 || r.shape(0) != n || r.shape(1) != mo || r.shape(2) != g.out_h || r.shape(3) != g.out_w)
      throw py::value_error("residual must be shaped like the output");
  }
  F32WinogradPlan plan = f32_winograd_plan(m, w.data(), groups, cg, mo / groups);
  py::array_t<float> y({n, mo, g.out_h, g.out_w});
  std::unique_ptr<fi::ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<fi::ThreadPool>(threads);
  std::vector<float> scratch(std::max<size_t>(1, f32_winograd_scratch_size(plan, g, n, threads)));
  {
    py::gil_scoped_release nogil;
    fi::kernels::f32_winograd_conv(plan, g, n, x.data(), bias.is_none() ? nullptr : b.data(),
                                   residual.is_none() ? nullptr : r.data(), clamp_min, clamp_max, y.mutable_data(),
                                   scratch.data(), pool.get());
  }
  return y;
}

}  // namespace

void bind_vmath(py::module_& k);  // kernels_vmath.cc

void bind_kernels(py::module_& m) {
  py::module_ k = m.def_submodule("kernels", "direct access to kernels, for tests and benchmarks");
  k.def("list_kernels", &list_kernels, py::arg("family"),
        "Every kernel of a family (e.g. 'f32_gemm') as dicts: name, isa, mr, nr, supported.");
  k.def("f32_gemm", &f32_gemm, py::arg("name"), py::arg("a"), py::arg("b"), py::arg("bias") = py::none(),
        py::arg("bias_per_row") = false, py::arg("residual") = py::none(), py::arg("alpha") = 1.f,
        py::arg("beta") = 1.f, py::arg("clamp_min") = -INFINITY, py::arg("clamp_max") = INFINITY,
        py::arg("packed") = true, py::arg("trans_b") = false, py::arg("threads") = 1, py::arg("c_pad") = 0,
        py::arg("act") = "none", py::arg("pack_a") = false,
        "C = clamp(act(alpha * A @ B + bias + beta * residual)) with the named fp32 GEMM microkernel; act is\n"
        "none, sigmoid, tanh, silu, gelu_erf, gelu_tanh or hardswish; pack_a runs the packed-A entry point.");
  k.def("f32_gemm_indirect", &f32_gemm_indirect, py::arg("name"), py::arg("src"), py::arg("ind"), py::arg("b"),
        py::arg("bias") = py::none(), py::arg("residual") = py::none(), py::arg("in_place") = false,
        py::arg("clamp_min") = -INFINITY, py::arg("clamp_max") = INFINITY, py::arg("act") = "none",
        py::arg("threads") = 1, py::arg("a_offset") = 0,
        "Implicit GEMM: row i of A is src[ind[i, t], a_offset:a_offset + tap_k] for t < taps (-1: zeros)\n"
        "concatenated, tap_k = B's rows / taps; C = A @ B with bias, residual (in C's memory when in_place),\n"
        "clamp and act.");
  k.def(
      "f32_gemm_split",
      [](const std::string& name, int64_t m, int64_t n, int64_t k, int threads) {
        const fi::kernels::F32GemmKernel* kern = fi::kernels::find_f32_gemm(name.c_str());
        if (!kern) throw py::value_error("unknown kernel " + name);
        int64_t ms = 1, ns = 1;
        fi::kernels::f32_gemm_split(*kern, m, n, k, threads, ms, ns);
        return py::make_tuple(ms, ns);
      },
      py::arg("name"), py::arg("m"), py::arg("n"), py::arg("k"), py::arg("threads"),
      "(m_split, n_split): the blocks of C's tiles f32_gemm makes for `threads` threads, one task each.");
  k.def("f32_gemm_time", &f32_gemm_time, py::arg("name"), py::arg("m"), py::arg("n"), py::arg("k"),
        py::arg("threads") = 1, py::arg("runs") = 20,
        "Seconds per fp32 GEMM run (B packed beforehand) for each of `runs` runs with the named kernel.");
  k.def(
      "f32_fma_peak",
      [](const std::string& isa, double seconds) {
        int tier = isa == "avx512" ? 2 : isa == "avx2" ? 1 : -1;
        if (tier < 0) throw py::value_error("isa must be avx2 or avx512");
        py::gil_scoped_release nogil;
        return fi::kernels::f32_fma_peak(tier, seconds);
      },
      py::arg("isa"), py::arg("seconds") = 0.2,
      "Measured fp32 FMA GFLOP/s of one core with avx2 or avx512 vectors (0 when not allowed here).");
  k.def("f32_dwconv", &f32_dwconv, py::arg("name"), py::arg("x"), py::arg("w"), py::arg("bias") = py::none(),
        py::arg("strides") = std::vector<int64_t>{1, 1}, py::arg("pads") = std::vector<int64_t>{0, 0, 0, 0},
        py::arg("dilations") = std::vector<int64_t>{1, 1}, py::arg("clamp_min") = -INFINITY,
        py::arg("clamp_max") = INFINITY, py::arg("threads") = 1,
        "Depthwise conv (NCHW) with the named fp32 dwconv kernel; w is [C * mult, 1, KH, KW].");
  bind_vmath(k);
  k.def("f32_winograd_conv", &f32_winograd_conv, py::arg("x"), py::arg("w"), py::arg("bias") = py::none(),
        py::arg("residual") = py::none(), py::arg("pads") = std::vector<int64_t>{1, 1, 1, 1}, py::arg("groups") = 1,
        py::arg("m") = 4, py::arg("clamp_min") = -INFINITY, py::arg("clamp_max") = INFINITY, py::arg("threads") = 1,
        "3x3 stride-1 conv (NCHW) by Winograd F(m,3), m 4 or 6, with the best allowed transforms.");
}
