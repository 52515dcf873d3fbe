from sonar.cli import main

main()
