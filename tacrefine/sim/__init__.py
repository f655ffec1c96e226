"""Simulation: physics world, gripper, tactile sensors and objects (PyBullet, CPU, headless)."""
