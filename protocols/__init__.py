"""The protocol library: each module reads like its paper and states what it promises."""
