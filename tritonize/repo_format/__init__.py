"""The on-disk Triton model repository format, owned here and nowhere else.

- :mod:`.files`: file and folder names, version folders.
- :mod:`.pbtxt`: parse and render ``config.pbtxt`` (``ModelConfig`` protobuf).
- :mod:`.platforms`: platform and backend names, thread parameters, libtorch output names.
- :mod:`.names`: the model names one export writes (ensemble, ``_tokenizer``, ``_onnx`` / ``_torchscript``).
- :mod:`.tokenizer_encoding`: the tokenizer model's parameter keys and its ``TextEncoder`` (numpy and
  tokenizers only: the exporter copies it beside the tokenizer model's ``model.py``).
- :mod:`.zero_shot`: the zero-shot model's tensor names and the zero-shot pipeline's arithmetic (numpy only;
  copied beside the zero-shot model's ``model.py``).
- :mod:`.multi_vector`: which token vectors a multi-vector model returns and how they travel (numpy only;
  copied beside the vectors step's ``model.py``).
- :mod:`.tokenizer_folder`: a ``TextEncoder`` built from an exported tokenizer model folder.
"""
