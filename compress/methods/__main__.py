from compress.methods.table import markdown

print(markdown(), end="")
