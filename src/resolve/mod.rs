//! Identity resolution: which candidates are the same place. Decided once per candidate,
//! recorded as `MergeDecided`, never from merged values — only from the candidates already
//! attached to entities — so identity never depends on trust weights.
