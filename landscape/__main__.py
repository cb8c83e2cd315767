from landscape.cli import main

if __name__ == "__main__":  # importing the package (docs tools, griffe) runs nothing
    main()
