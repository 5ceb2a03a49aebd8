"""The EDVR network and its files: ``arch`` (the network), ``reader`` (the one safe checkpoint reader),
``keymap`` (BasicSR / original / MMagic key namings), ``checkpoint`` (configuration inference,
``load_model``, ``save_model``) and ``descriptor`` (``load_descriptor``: the network plus what the
pipeline needs). Nothing is imported here, so ``import edvr_cli`` stays free of torch.
"""
