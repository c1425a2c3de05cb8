from .solvers import main

main()
