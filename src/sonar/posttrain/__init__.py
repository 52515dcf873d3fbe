"""Post-training as Llama 4 does it, at small scale: SFT on pruned data -> online RL (GRPO) on prompts the
policy sometimes solves -> DPO on the policy's own verified samples; and exact-match evaluation."""
