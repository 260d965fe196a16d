"""Training layer over the ADIFF library: SynthDiff generation, data loading, collation, tokenizer training."""
