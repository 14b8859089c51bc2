"""`python -m fer_lightning.bench [model=...] [data=...] [trainer=...] [format=json] [quick=true]`."""

from fer_lightning.bench.run import main

if __name__ == "__main__":
    main()
