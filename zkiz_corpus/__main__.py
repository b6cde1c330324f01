from zkiz_corpus.cli import main

main()
