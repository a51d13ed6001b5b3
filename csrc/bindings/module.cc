// The Python extension fastinfer._core: thin glue over the core. It builds graphs from the
// importer's calls, runs sessions with the GIL released, and maps fi::Error classes to the
// Python exceptions of fastinfer.errors.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/convert.h"
#include "core/cpu_features.h"
#include "graph/describe.h"
#include "graph/graph.h"
#include "graph/session.h"
#include "ops/registry.h"

namespace py = pybind11;
using namespace fi;

void bind_kernels(py::module_& m);  // kernel entry points for tests and bench (kernels.cc)
void bind_testing(py::module_& m);  // core internals for unit tests (testing.cc)

namespace {

TypeInfo make_info(int dtype, bool has_shape, const std::vector<int64_t>& dims,
                   const std::vector<std::string>& params) {
  TypeInfo info;
  info.dtype = dtype_valid(dtype) ? DataType(dtype) : DataType::Undefined;
  info.has_shape = has_shape;
  info.dims = dims;
  info.dim_params = params;
  return info;
}

Tensor tensor_arg(const py::tuple& t) {
  return py_convert::copy_array(t[0].cast<int>(), t[1].cast<py::array>());
}

// value: (type_code, payload) as produced by python/fastinfer/_import.py
Attribute make_attr(int type, const py::object& v) {
  Attribute a;
  a.type = AttrType(type);
  switch (a.type) {
    case AttrType::Float: a.f = v.cast<float>(); break;
    case AttrType::Int: a.i = v.cast<int64_t>(); break;
    case AttrType::String: a.s = v.cast<std::string>(); break;
    case AttrType::Tensor: a.t = tensor_arg(v.cast<py::tuple>()); break;
    case AttrType::Graph: a.g = v.cast<std::shared_ptr<Graph>>(); break;
    case AttrType::Floats: a.floats = v.cast<std::vector<float>>(); break;
    case AttrType::Ints: a.ints = v.cast<std::vector<int64_t>>(); break;
    case AttrType::Strings: a.strings = v.cast<std::vector<std::string>>(); break;
    case AttrType::Tensors:
      for (auto item : v) a.tensors.push_back(tensor_arg(item.cast<py::tuple>()));
      break;
    case AttrType::Graphs: a.graphs = v.cast<std::vector<std::shared_ptr<Graph>>>(); break;
    default: throw NotImplemented(str("attribute type ", type, " is not supported"));
  }
  return a;
}

py::dict type_info_dict(const std::string& name, const TypeInfo& info) {
  py::dict d;
  d["name"] = name;
  d["dtype"] = int(info.dtype);
  d["has_shape"] = info.has_shape;
  d["dims"] = info.dims;
  d["dim_params"] = info.dim_params;
  return d;
}

py::dict type_info_dict(const Value& v) { return type_info_dict(v.name, v.info); }

void translate(const Error& e) {
  py::object errors = py::module_::import("fastinfer.errors");
  py::object cls = errors.attr(e.kind());
  PyErr_SetString(cls.ptr(), e.what());
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastinfer core (C++)";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      translate(e);
    }
  });

  py::class_<ThreadPool, std::shared_ptr<ThreadPool>>(m, "ThreadPool")
      .def(py::init<int>(), py::arg("num_threads"))
      .def_property_readonly("num_threads", &ThreadPool::num_threads);

  py::class_<Graph, std::shared_ptr<Graph>>(m, "Graph")
      .def(py::init<>())
      .def("set_name", &Graph::set_name)
      .def("set_opset", &Graph::set_opset)
      .def("set_optimize", &Graph::set_optimize, "Whether prepare() runs the graph passes (default on)")
      .def("set_config_entry", &Graph::set_config_entry, "A session configuration entry kernels read at creation")
      .def("add_input", [](Graph& g, const std::string& n, int dt, bool hs, const std::vector<int64_t>& dims,
                           const std::vector<std::string>& params) { g.add_input(n, make_info(dt, hs, dims, params)); })
      .def("add_output", [](Graph& g, const std::string& n, int dt, bool hs, const std::vector<int64_t>& dims,
                            const std::vector<std::string>& params) { g.add_output(n, make_info(dt, hs, dims, params)); })
      .def("add_value_info", [](Graph& g, const std::string& n, int dt, bool hs, const std::vector<int64_t>& dims,
                                const std::vector<std::string>& params) { g.add_value_info(n, make_info(dt, hs, dims, params)); })
      .def("add_initializer", [](Graph& g, const std::string& n, int dt, const py::array& arr) {
        g.add_initializer(n, py_convert::copy_array(dt, arr));
      })
      .def("add_node", [](Graph& g, const std::string& name, const std::string& op, const std::string& domain,
                          const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                          const py::list& attrs) {
        Node& n = g.add_node(name, op, domain, inputs, outputs);
        for (auto item : attrs) {
          auto t = item.cast<py::tuple>();
          n.attrs.set(t[0].cast<std::string>(), make_attr(t[1].cast<int>(), t[2]));
        }
      })
      .def("prepare", [](Graph& g) {
        py::gil_scoped_release nogil;  // kernel creation packs weights: let other threads run
        g.prepare();
      })
      .def("inputs", [](const Graph& g) {
        py::list l;
        for (int v : g.inputs()) {
          py::dict d = type_info_dict(g.value(v));
          d["has_default"] = g.value(v).is_const;
          l.append(d);
        }
        return l;
      })
      .def("outputs", [](const Graph& g) {
        py::list l;
        for (int v : g.outputs()) l.append(type_info_dict(g.value(v).name, g.type_of(v)));
        return l;
      })
      .def("node_output_types", [](const Graph& g) {
        // Per node in execution order: (name, op_type, [inferred type dict per output]).
        py::list l;
        for (const Node& n : g.nodes()) {
          py::list outs;
          for (size_t o = 0; o < n.outputs.size(); ++o) {
            if (n.outputs[o] < 0 || n.output_names[o].empty()) continue;
            outs.append(type_info_dict(n.output_names[o], g.value(n.outputs[o]).inferred));
          }
          l.append(py::make_tuple(n.name, n.op_type, outs));
        }
        return l;
      })
      .def("describe_nodes", [](const Graph& g) {
        // Per node of the prepared graph (after passes), in execution order: a dict with name,
        // op_type, domain, kernel, layout, outputs (inferred type dicts) and flops (-1 unknown).
        py::list l;
        for (const NodeSummary& s : describe_nodes(g)) {
          py::dict d;
          d["name"] = s.name;
          d["op_type"] = s.op_type;
          d["domain"] = s.domain;
          d["kernel"] = s.kernel;
          d["layout"] = s.layout;
          py::list outs;
          for (const auto& o : s.outputs) outs.append(type_info_dict(o.first, o.second));
          d["outputs"] = outs;
          d["flops"] = s.flops;
          l.append(d);
        }
        return l;
      })
      .def("nodes", [](const Graph& g) {
        py::list l;
        for (const Node& n : g.nodes()) l.append(py::make_tuple(n.name, n.op_type, n.domain));
        return l;
      });

  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def(py::init([](std::shared_ptr<Graph> g, int threads, std::shared_ptr<ThreadPool> pool, bool profile) {
             SessionOptions o;
             o.num_threads = threads;
             o.pool = std::move(pool);
             o.profile = profile;
             py::gil_scoped_release nogil;
             return std::make_shared<Session>(std::move(g), o);
           }),
           py::arg("graph"), py::arg("num_threads") = 0, py::arg("pool") = nullptr, py::arg("profile") = false)
      .def("planned_arena_bytes", [](const Session& s) { return s.graph().executor().max_planned_arena_bytes(); },
           "Bytes of the largest memory plan made so far (0 before the first run)")
      .def("cached_plans", [](const Session& s) { return s.graph().executor().num_cached_plans(); })
      .def("take_profile", [](Session& s) {
        // [(run, node name, op type, start_us, dur_us)], and forgets them.
        py::list l;
        const auto& nodes = s.graph().nodes();
        for (const ProfileEvent& e : s.take_profile())
          l.append(py::make_tuple(e.run, nodes[size_t(e.node)].name, nodes[size_t(e.node)].op_type,
                                  double(e.start_ns) / 1e3, double(e.dur_ns) / 1e3));
        return l;
      })
      .def_property_readonly("num_threads", &Session::num_threads)
      .def("run", [](Session& s, const py::list& feeds) {
        // feeds: one (dtype_code, array) or None per graph input, in graph-input order.
        std::vector<Tensor> inputs;
        inputs.reserve(feeds.size());
        for (auto f : feeds) {
          if (f.is_none()) {
            inputs.emplace_back();
            continue;
          }
          auto t = f.cast<py::tuple>();
          inputs.push_back(py_convert::view_array(t[0].cast<int>(), t[1].cast<py::array>()));
        }
        std::vector<Tensor> outs;
        {
          py::gil_scoped_release nogil;
          outs = s.run(inputs);
        }
        py::list result;
        for (const Tensor& t : outs) result.append(py::make_tuple(int(t.dtype()), py_convert::to_array(t)));
        return result;
      });

  m.def("supported_ops", [] {
    py::list l;
    for (const auto& kv : op_registry().list()) l.append(py::make_tuple(kv.first, kv.second));
    return l;
  });
  m.def("cpu_info", [] {
    const CpuFeatures& f = cpu_features();
    py::dict d;
    d["brand"] = f.brand;
    d["avx2"] = f.avx2;
    d["fma"] = f.fma;
    d["avx512f"] = f.avx512f;
    d["avx512bw"] = f.avx512bw;
    d["avx512vl"] = f.avx512vl;
    d["avx512vnni"] = f.avx512vnni;
    d["avx512bf16"] = f.avx512bf16;
    d["isa"] = isa_name(isa_tier());
    return d;
  });
  m.def("set_isa", [](const std::string& name) { return std::string(isa_name(set_isa_tier(name))); },
        "Caps the kernel ISA tier (ref, avx2, avx512); returns the tier in force.");
  bind_kernels(m);
  bind_testing(m);
}
