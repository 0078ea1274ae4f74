from causeway.main import main

main()
