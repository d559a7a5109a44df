//! validate, graph, plan and actions, driven through the real binary.
