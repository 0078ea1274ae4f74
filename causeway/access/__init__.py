"""The one policy: who may do what on which object, and which objects each actor may see."""
